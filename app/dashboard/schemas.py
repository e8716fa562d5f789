from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Bucket = Literal["raw", "hour", "day", "month"]

_CLASS = "GB 3838 class: 1–5, 6 for 劣Ⅴ, 0 none (not classified, or no value)"
_LABEL = "Ⅰ Ⅱ Ⅲ Ⅳ Ⅴ or 劣Ⅴ; null for class 0"
_QC = "QARTOD: 1 good, 2 not evaluated, 3 suspect, 4 fail, 9 missing"


class Judged(BaseModel):
    """A value's class and QC verdict. A value that does not count has no class."""

    water_class: int = Field(description=f"the value's own {_CLASS}; 0 if it does not count")
    label: str | None = Field(description=_LABEL)
    qc_flag: int = Field(description=_QC)
    qc: str = Field(description="the QC flag in words: good, not_evaluated, suspect, fail")
    counted: bool = Field(description="counts for classes and alerts (QC good)")


class ReadingState(Judged):
    parameter: str = Field(description="parameter code (see /api/v1/parameters)")
    name_zh: str
    unit: str
    time: datetime = Field(description="time of the latest reading, +08:00")
    age_s: float = Field(description="seconds from that reading to the answer's `as_of`")
    value: float
    data_flag: str = Field(description="HJ 212 data flag as the logger sent it (N normal, …)")
    backfill: bool = Field(description="arrived after the late-data horizon")


class ItemState(ReadingState):
    good_value: float | None = Field(
        description="the latest QC-good, non-backfill value in the window: what the "
        "section's class is computed from; null if there is none"
    )
    good_time: datetime | None = Field(description="time of `good_value`, +08:00")


class SectionState(BaseModel):
    code: str
    name: str
    zone: str | None = Field(description="name of the key zone or basin")
    control_level: str = Field(description="national (国控), provincial (省控) or municipal (市控)")
    waterbody: str = Field(description="river, or lake (lakes and reservoirs)")
    water_class: int = Field(
        description=f"single-factor class over the latest good value of each evaluated "
        f"item; {_CLASS}"
    )
    label: str | None = Field(description=_LABEL)
    target_class: int | None = Field(description="this year's binding target (1–5), if any")
    target_label: str | None
    met: bool | None = Field(description="class no worse than the target; null: no class or target")
    classes_missed: int = Field(description="how many classes worse than the target (0 if met)")
    main_pollutants: list[str] = Field(
        description="up to three items exceeding class Ⅲ, largest multiple first"
    )
    last_reading: datetime | None = Field(description="time of the newest reading, +08:00")
    items: dict[str, ItemState] = Field(
        description="per parameter code, the latest reading of the section's active stations"
    )


class StatusOut(BaseModel):
    as_of: datetime = Field(description="the moment ages are measured from, +08:00")
    within_hours: int = Field(description="readings older than this were not looked at")
    sections: list[SectionState]


class StationState(BaseModel):
    code: str
    name: str
    active: bool = Field(description="inactive stations are listed but not in the section state")
    reporting_interval_s: int
    last_reading: datetime | None = Field(description="time of the newest reading, +08:00")
    items: dict[str, ReadingState] = Field(description="per parameter code, the latest reading")


class SectionDetailOut(SectionState):
    as_of: datetime = Field(description="the moment ages are measured from, +08:00")
    within_hours: int = Field(description="readings older than this were not looked at")
    stations: list[StationState]


class RawPoint(Judged):
    time: datetime = Field(description="+08:00")
    value: float
    data_flag: str = Field(description="HJ 212 data flag")
    backfill: bool


class BucketPoint(BaseModel):
    time: datetime = Field(description="start of the bucket in Asia/Shanghai local time, +08:00")
    mean: float
    min: float
    max: float
    count: int = Field(description="QC-good values in the bucket (only those are aggregated)")


class SeriesOut(BaseModel):
    station: str
    parameter: str
    unit: str
    bucket: Bucket = Field(description="raw readings, or hour/day/month means (Asia/Shanghai)")
    start: datetime = Field(description="inclusive, +08:00")
    end: datetime = Field(description="exclusive, +08:00")
    points: list[RawPoint] | list[BucketPoint]
    next_cursor: datetime | None = Field(
        description="pass as `cursor` for the next page; null on the last page"
    )
