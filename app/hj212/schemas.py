from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class RefusalOut(BaseModel):
    at: datetime
    qn: str | None
    mn: str
    cn: str | None
    item: str = Field(description='the item as the logger named it, e.g. "w21003-Rtd"')
    reason: str


class LinkOut(BaseModel):
    station: str
    mn: str | None
    hj212: bool = Field(description="the station has an HJ 212 password set")
    version: str | None = Field(description="protocol of the last packet: 2005, 2017, 2025")
    connected: bool
    connected_at: datetime | None
    disconnected_at: datetime | None
    last_packet_at: datetime | None
    packets: int
    replies: int
    refusals: dict[str, int] = Field(description="counts by reason (crc, item, wrong PW, …)")
    recent_refusals: list[RefusalOut] = Field(default_factory=list)


class CommandIn(BaseModel):
    cn: str = Field(description="1012 set time, 3012 sample now, … (GET …/hj212/commands/help)")
    cp: str | None = Field(
        default=None,
        description="CP items, e.g. PolId=w21003; for 1012 SystemTime defaults to now",
    )


class CommandOut(BaseModel):
    id: int
    qn: str
    cn: str
    cp: str
    state: str = Field(description="queued, sent, accepted, refused, done, failed, expired")
    created_at: datetime
    sent_at: datetime | None
    qn_rtn: int | None = Field(description="the logger's 9011 QnRtn (1: will execute)")
    exe_rtn: int | None = Field(description="the logger's 9012 ExeRtn (1: succeeded)")
    answered_at: datetime | None
