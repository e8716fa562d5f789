"""Channels from the settings: the webhook channel, SMS through the configured provider,
and the lookup of webhook secrets."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from alerts.channels.base import Channel, ChannelKind
from alerts.channels.sms import SmsChannel, SmsSettings
from alerts.channels.webhook import WebhookChannel
from alerts.models import WebhookEndpoint
from core.settings import Environment, Settings, SmsProvider

log = logging.getLogger(__name__)


def endpoint_secrets(
    sessions: sessionmaker[Session],
    *,
    ttl_s: float = 30.0,
    miss_refresh_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[str], tuple[str, ...] | None]:
    """A lookup of the active webhook endpoints' secrets by URL, cached for ttl_s.

    The whole (small) table is read at once. A URL missing from the cached copy forces a
    re-read (at most every miss_refresh_s): a just-added endpoint must not be turned into
    a permanent failure by a stale cache. A URL shared by several endpoints gets all their
    secrets; the receiver accepts any one signature that matches.
    """
    lock = threading.Lock()
    cache: dict[str, tuple[str, ...]] = {}
    loaded_at: float | None = None

    def load() -> None:
        nonlocal loaded_at
        with sessions() as session:
            rows = session.execute(
                select(WebhookEndpoint.url, WebhookEndpoint.secret)
                .where(WebhookEndpoint.active)
                .order_by(WebhookEndpoint.id)
            ).all()
        secrets: dict[str, dict[str, None]] = {}
        for url, secret in rows:
            # A dict as an ordered set: one signature per distinct secret.
            secrets.setdefault(url, {})[secret] = None
        cache.clear()
        cache.update({url: tuple(found) for url, found in secrets.items()})
        loaded_at = clock()

    def secret_for(url: str) -> tuple[str, ...] | None:
        with lock:
            age = float("inf") if loaded_at is None else clock() - loaded_at
            if age >= ttl_s or (url not in cache and age >= miss_refresh_s):
                load()
            return cache.get(url)

    return secret_for


def build_channels(
    settings: Settings,
    client: httpx.Client,
    secret_for: Callable[[str], str | Sequence[str] | None],
) -> dict[ChannelKind, Channel]:
    """The webhook channel always; SMS through the configured provider.

    The generic gateway only with an sms_url (else SMS stays pending); Aliyun and Tencent
    with their credentials. In production a provider without an approved template for
    every message kind is refused here, at start-up, rather than failing per message.
    """

    def required_secret(url: str) -> str | Sequence[str]:
        secrets = secret_for(url)
        if not secrets:
            raise KeyError(url)  # WebhookChannel: permanent, "no webhook secret for …"
        return secrets

    channels: dict[ChannelKind, Channel] = {
        ChannelKind.WEBHOOK: WebhookChannel(
            client,
            required_secret,
            timeout=settings.webhook_timeout_s,
            allow_internal=settings.webhooks_may_reach_internal,
        ),
    }
    if settings.sms_provider is not SmsProvider.HTTP:
        sms = provider_channel(settings, client)
        if sms is not None:
            channels[ChannelKind.SMS] = sms
    elif settings.sms_url:
        channels[ChannelKind.SMS] = SmsChannel(
            client,
            SmsSettings(
                url=settings.sms_url,
                api_key=settings.sms_api_key.get_secret_value(),
                sign=settings.sms_sign,
                timeout=settings.webhook_timeout_s,
            ),
        )
    return channels


def provider_channel(settings: Settings, client: httpx.Client) -> Channel | None:
    from alerts.channels.aliyun import AliyunSmsChannel
    from alerts.channels.provider import ProviderSettings, missing_templates
    from alerts.channels.tencent import TencentSmsChannel

    missing = missing_templates(settings.sms_templates)
    if missing and settings.env is Environment.PRODUCTION:
        raise ValueError(
            f"RIVERWATCH_SMS_TEMPLATES has no approved {settings.sms_provider} template for: "
            + ", ".join(missing)
        )
    secret = settings.sms_access_key_secret.get_secret_value()
    if not settings.sms_access_key_id or not secret:
        log.warning("SMS provider %s has no credentials: SMS stay pending", settings.sms_provider)
        return None
    provider = ProviderSettings(
        access_key_id=settings.sms_access_key_id,
        access_key_secret=secret,
        sign=settings.sms_sign,
        templates=settings.sms_templates,
        param_max_chars=settings.sms_param_max_chars,
        timeout=settings.webhook_timeout_s,
        lookup_grace_s=settings.sms_lookup_grace_s,
        endpoint=settings.sms_url,
        region=settings.sms_region,
        app_id=settings.sms_app_id,
    )
    if settings.sms_provider is SmsProvider.ALIYUN:
        return AliyunSmsChannel(client, provider)
    return TencentSmsChannel(client, provider)
