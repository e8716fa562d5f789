from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class StationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    mn: str | None = Field(description="HJ 212 MN of the station's data logger")
    section: str | None = Field(
        description="code of the section the station reports for; null: none (an outfall)"
    )
    name: str
    reporting_interval_s: int
    active: bool
    simulated: bool
    created_at: datetime
