"""Where a webhook may point. In production not at this network's own hosts: a private,
loopback or link-local address (a cloud's metadata service at 169.254.169.254, the
database's host) would let whoever configures a webhook make the service call inside."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


def _reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_private or address.is_reserved or address.is_unspecified:
        return "private"
    if address.is_multicast:
        return "multicast"
    return None


def internal_reason(url: str) -> str | None:
    """Why `url`'s host is internal (any address it resolves to), or None if none is.
    A host that does not resolve is not refused here: delivery will fail and retry."""
    host = urlsplit(url).hostname or ""
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        reason = _reason(address)
        if reason is not None:
            return f"{host} is a {reason} address ({address})"
    return None
