from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

EXAMPLE_BATCH: JsonDict = {
    "readings": [
        {
            "time": "2026-11-29T08:00:00+08:00",
            "values": {"ph": 7.21, "do": 5.84, "codmn": 4.12, "nh3n": 0.862, "tp": 0.178},
            "flags": {"do": "N"},
        },
        {
            "time": "2026-11-29T09:00:00+08:00",
            "values": {"nh3n": 0.031, "tp": 0.191},
            "flags": {"tp": "C"},
            "below_detection": ["nh3n"],
        },
    ]
}


class ReadingIn(BaseModel):
    """One time of a station's readings. Checked item by item, so fields are loose here."""

    time: Any = Field(description="ISO 8601 with a UTC offset, e.g. 2026-11-29T08:00:00+08:00")
    values: Any = Field(description="values by parameter code (see /api/v1/parameters)")
    flags: Any = Field(
        default=None,
        description="HJ 212 data flag by parameter code: N normal, F stopped, M maintenance, "
        "S set by hand, D fault, C calibration, T above range, B logger comms fault; default N",
    )
    below_detection: Any = Field(
        default=None,
        description="codes whose value is the detection limit because the sample was below it",
    )


class BatchIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_BATCH]})

    station: str | None = Field(
        default=None, description="the posting station's code; must be the key's station"
    )
    readings: list[ReadingIn]


class RefusedOut(BaseModel):
    index: int = Field(description="position of the time in `readings`")
    field: str = Field(description='e.g. "time", "values.nh3n", "flags.tp"')
    reason: str


class ItemClass(BaseModel):
    value: float
    water_class: int = Field(
        description="GB 3838 class: 1–5, 6 for 劣Ⅴ; 0 when not classified or not counted"
    )
    label: str = Field(description="Ⅰ Ⅱ Ⅲ Ⅳ Ⅴ or 劣Ⅴ; empty for class 0")
    qc_flag: int = Field(
        description="QARTOD: 1 good, 2 not evaluated, 3 suspect, 4 fail, 9 missing"
    )
    qc: str = Field(description="the QC flag in words: good, not_evaluated, suspect, fail")
    counted: bool = Field(
        description="whether the value counts for classes and alerts (QC good); a value "
        "that does not count has no class"
    )


class TimeOut(BaseModel):
    time: str
    items: dict[str, ItemClass]
    section_class: int = Field(description="single-factor class over the QC-good items, 0: none")
    section_label: str
    target_class: int | None = Field(description="the section's binding target for the year")
    met: bool | None
    main_pollutants: list[str]
    backfill: bool


class IngestOut(BaseModel):
    accepted: int = Field(description="new readings stored")
    duplicate: int = Field(description="readings already stored with the same value")
    revised: int = Field(description="readings whose stored value was replaced (old one audited)")
    refused: int = Field(description="values refused; see `errors`")
    errors: list[RefusedOut] = Field(description="the first 100 refusals")
    errors_omitted: int = Field(description="refusals beyond the first 100")
    times: list[TimeOut]
