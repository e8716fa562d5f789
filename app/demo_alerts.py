"""The demo's alert receivers: the local SMS gateway stand-in and webhook receiver, and
simulated river chiefs on every section whose messages go there.

Nothing leaves the machine: the stand-in records what it receives (GET /messages,
GET /webhooks on its port) instead of sending SMS. Demo contacts are labelled simulated.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import contacts
from alerts.channels.webhook import new_secret
from alerts.models import Contact, WebhookEndpoint
from alerts.smsgw.app import create_app as create_gateway
from alerts.smsgw.serve import serving
from core.models import Section
from core.settings import Settings

# (tier, level, name suffix); phones are placeholders that only the stand-in ever sees.
DEMO_TIERS = ((1, "village", "村级河长"), (2, "township", "镇级河长"), (3, "county", "县级河长"))
DEMO_LABEL = "（模拟 simulated）"


@dataclass(frozen=True)
class Receivers:
    url: str
    api_key: str
    webhook_secret: str


@contextlib.contextmanager
def receivers() -> Iterator[Receivers]:
    """The SMS stand-in and webhook receiver, served on a free local port meanwhile."""
    api_key = secrets.token_urlsafe(16)
    secret = new_secret()
    with serving(create_gateway(api_key, webhook_secrets=[secret])) as url:
        yield Receivers(url, api_key, secret)


def with_receivers(settings: Settings, r: Receivers) -> Settings:
    return settings.model_copy(
        update={"sms_url": f"{r.url}/sms/send", "sms_api_key": SecretStr(r.api_key)}
    )


def ensure_demo_contacts(session: Session, r: Receivers) -> int:
    """Three tiers of simulated chiefs per section; tier 1 also by webhook. Idempotent:
    a restart points the existing demo endpoints at the new receiver and secret."""
    made = 0
    for index, section in enumerate(session.scalars(select(Section).order_by(Section.code))):
        for tier, level, title in DEMO_TIERS:
            name = f"{section.name}{title}{DEMO_LABEL}"
            phone = f"1380000{index:02d}{tier:02d}"
            contact = contacts.find_contact(session, name, phone)
            if contact is None:
                contact = contacts.create_contact(session, name=name, level=level, phone=phone)
                made += 1
            contacts.assign(session, section.code, contact.id, tier)
            if tier == 1:
                _point_webhook(session, contact, r)
    session.flush()
    return made


def _point_webhook(session: Session, contact: Contact, r: Receivers) -> None:
    url = f"{r.url}/webhook"
    endpoint = session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.contact_id == contact.id)
    ).first()
    if endpoint is None:
        contacts.add_webhook(session, contact.id, url, secret=r.webhook_secret, allow_internal=True)
    else:
        endpoint.url, endpoint.secret, endpoint.active = url, r.webhook_secret, True
