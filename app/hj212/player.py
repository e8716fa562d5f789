"""A logger played over TCP (for `riverwatch hj212 send`, the demo and the bench)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

from sensors.hj212.describe import describe
from sensors.hj212.errors import Hj212Error
from sensors.hj212.packet import decode, execution_reply, request_reply
from sensors.hj212.stream import Framer


def play(
    host: str, port: int, packets: list[bytes], *, wait: float = 3
) -> Iterator[dict[str, Any]]:
    """Send the packets; yield every frame the host sends (as `hj212 decode` prints it)
    until `wait` seconds pass without one. Requests from the host are answered."""
    framer = Framer()
    with socket.create_connection((host, port), timeout=10) as sock:
        for packet in packets:
            sock.sendall(packet)
        sock.settimeout(wait)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            for frame in framer.feed(data):
                if isinstance(frame, Hj212Error):
                    continue
                yield describe(frame)
                deadline = time.monotonic() + wait
                try:
                    got = decode(frame)
                except Hj212Error:
                    continue
                if got.st != "91" and got.wants_reply:  # a request: accept and "execute"
                    sock.sendall(request_reply(got, 1) + execution_reply(got, 1))
