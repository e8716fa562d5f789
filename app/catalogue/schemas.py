from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TargetOut(Schema):
    year: int
    binding_class: int = Field(description="class the section must reach (1–5 for Ⅰ–Ⅴ)")
    stretch_class: int | None = Field(
        description="class to strive for (力争), if the plan names one"
    )


class ZoneRef(Schema):
    id: int
    name: str


class SectionOut(Schema):
    id: int
    code: str
    name: str
    control_level: str = Field(description="national (国控), provincial (省控) or municipal (市控)")
    water_system: str
    areas: list[str]
    key_control_range: str
    waterbody: str
    zone: ZoneRef | None
    class_2020: int | None
    main_factors_2020: list[str] = Field(
        description="parameter codes of the 2020 main exceeding factors"
    )
    targets: list[TargetOut]


class ZoneOut(Schema):
    id: int
    name: str
    goal: str
    governments: list[str] = Field(description="responsible governments, lead first")
    sections: list[str] = Field(description="codes of the zone's sections")


class ParameterOut(Schema):
    code: str
    name_zh: str
    name_en: str
    unit: str
    hj212_2017: str
    hj212_2005: str | None
    direction: str
    precision: int | None
    plausible_min: float
    plausible_max: float
    evaluated: bool
