from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

from app.contacts.schemas import RowErrorOut
from app.upstream.service import MAX_ORDER, MAX_TRAVEL_MIN


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class UpstreamIn(Schema):
    station: str = Field(min_length=1, max_length=32, description="a registered station's code")
    order: Annotated[int, Strict()] = Field(
        ge=1, le=MAX_ORDER, description="order along the river, downstream: 1 the farthest upstream"
    )
    travel_time_min: Annotated[int, Strict()] | None = Field(
        default=None,
        ge=0,
        le=MAX_TRAVEL_MIN,
        description="typical travel time from the station to the section, minutes; null: not known",
    )


class UpstreamOut(UpstreamIn):
    name: str
    section: str | None = Field(description="the station's own section; null: none (an outfall)")


class SectionUpstreamOut(Schema):
    section: str
    stations: list[str] = Field(description="codes of the section's own stations")
    upstream: list[UpstreamOut] = Field(description="upstream stations, by order")


class UpstreamImportOut(Schema):
    rows: int
    sections: list[str] = Field(description="sections whose upstream lists the file set")
    errors: list[RowErrorOut] = Field(
        description="refused rows; their sections' lists were left as they were"
    )
