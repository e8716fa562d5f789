from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from app.params import Flag, Moment, Seconds

Level = Literal["liaison", "village", "township", "county", "office", "operations"]
LEVEL_HELP = (
    "liaison (断面专职联络员), village / township / county river chief (河长), "
    "office (河长办 / 治水办), or operations (station maintenance)"
)
PHONE_HELP = "mainland mobile number, 11 digits; a +86 prefix is accepted and dropped"
Tier = Annotated[int, Strict(), Field(ge=1, le=9, description="escalation tier: 1 is told first")]


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ContactIn(Schema):
    name: str = Field(min_length=1, max_length=64, description="person or office")
    level: Level = Field(description=LEVEL_HELP)
    phone: str | None = Field(default=None, description=PHONE_HELP + "; null: webhook only")


class ContactPatch(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    level: Level | None = Field(default=None, description=LEVEL_HELP)
    phone: str | None = Field(default=None, description=PHONE_HELP + "; null clears it")
    active: Flag | None = Field(
        default=None, description="false: never notified, history kept (instead of deleting)"
    )


class WebhookIn(Schema):
    url: str = Field(description="http(s) URL receiving Standard Webhooks POSTs")
    secret: str | None = Field(
        default=None,
        description="whsec_… signing secret; generated when omitted (recommended)",
    )


class WebhookOut(Schema):
    id: int
    url: str
    active: bool


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="signing secret (whsec_…): shown in this response only, store it now"
    )


class AssignmentOut(Schema):
    section: str = Field(description="section code")
    tier: Tier


class ContactOut(Schema):
    id: int
    name: str
    level: Level = Field(description=LEVEL_HELP)
    phone: str | None
    active: bool
    created_at: datetime
    webhooks: list[WebhookOut] = Field(description="endpoints; their secrets are never listed")
    sections: list[AssignmentOut] = Field(description="sections the contact is on, with tier")


class TierIn(Schema):
    tier: Tier


class EscalationStep(Schema):
    tier: Tier
    delay_s: Seconds = Field(
        description="seconds after an incident opens, unacknowledged, before telling it"
    )


class RouteContact(Schema):
    id: int
    name: str
    level: Level
    phone: str | None
    webhooks: int = Field(description="number of active webhook endpoints")


class RouteTier(Schema):
    tier: Tier
    delay_s: int | None = Field(
        description="escalation delay in seconds; null: the section has no delay for this tier"
    )
    contacts: list[RouteContact]


class SectionRoutesOut(Schema):
    section: str
    tiers: list[RouteTier] = Field(description="active river chiefs and liaisons by tier")
    operations: list[RouteContact] = Field(
        description="active operations contacts: told about station faults, not escalated"
    )


class MuteIn(Schema):
    section: str | None = Field(default=None, description="section code (or give station)")
    station: str | None = Field(default=None, description="station code (or give section)")
    starts_at: Moment = Field(
        description="start, inclusive; without an offset it is Asia/Shanghai local time"
    )
    ends_at: Moment = Field(
        description="end, exclusive; without an offset it is Asia/Shanghai local time"
    )
    reason: str = Field(default="", max_length=500, description="e.g. planned maintenance")


class MuteOut(Schema):
    id: int
    section: str | None
    station: str | None
    starts_at: datetime = Field(description="Asia/Shanghai time (+08:00)")
    ends_at: datetime = Field(description="Asia/Shanghai time (+08:00), exclusive")
    reason: str
    active: bool = Field(description="in force now")


class RowErrorOut(Schema):
    line: int = Field(description="line in the CSV, the header being line 1")
    reason: str


class NewWebhookOut(Schema):
    contact_id: int
    name: str
    url: str
    secret: str = Field(description="signing secret of the new endpoint: shown only here")


class ImportReportOut(Schema):
    rows: int
    contacts_created: int
    assignments_created: int
    assignments_updated: int
    webhooks: list[NewWebhookOut] = Field(description="endpoints the import created")
    errors: list[RowErrorOut] = Field(description="refused rows; all other rows were applied")
