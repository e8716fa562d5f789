from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, Strict

from alerts import rule_settings
from app.access.deps import require
from app.access.policy import Perm, Principal
from app.deps import SessionDep
from app.params import Flag, Seconds


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str = Field(description="class_v, target_miss or station_silent")
    enabled: bool
    persistence: str = Field(description="first, consecutive or rolling_mean")
    consecutive: int = Field(description="offending times in a row, for consecutive")
    window_s: int = Field(description="averaging window, for rolling_mean")
    hold_s: int = Field(description="clear this long before an incident resolves itself")
    repeat_s: int = Field(description="reminder interval while open and unacknowledged")
    silent_factor: float = Field(description="station_silent: reporting intervals of silence")
    unconfirmed: bool = Field(
        description="a QC-suspect reading that would raise opens an unconfirmed incident at once"
    )
    unconfirmed_tier1: bool = Field(
        description="unconfirmed warnings go to the tier-1 chiefs too, not only to operations"
    )
    clear_margin: float = Field(
        description="hysteresis: clear only this fraction better than each limit"
    )
    clear_readings: int = Field(description="hysteresis: clear for this many judged times")


class RulePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: Flag | None = None
    persistence: str | None = Field(default=None, max_length=32)
    consecutive: Annotated[int, Strict(), Field(ge=1, le=1000)] | None = None
    window_s: Seconds | None = None
    hold_s: Seconds | None = None
    repeat_s: Seconds | None = None
    silent_factor: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] | None = None
    unconfirmed: Flag | None = None
    unconfirmed_tier1: Flag | None = None
    clear_margin: Annotated[float, Field(ge=0, le=0.5, allow_inf_nan=False)] | None = None
    clear_readings: Annotated[int, Strict(), Field(ge=1, le=24)] | None = None


router = APIRouter(tags=["rules"])


@router.get("/rules", response_model=list[RuleOut], summary="The alert rules' configuration")
def list_rules(
    session: SessionDep, _: Annotated[Principal, require(Perm.RULES_READ)]
) -> list[RuleOut]:
    return [RuleOut.model_validate(r) for r in rule_settings.list_rules(session)]


@router.patch("/rules/{code}", response_model=RuleOut, summary="Change a rule's configuration")
def update_rule(
    code: str,
    patch: RulePatch,
    session: SessionDep,
    _: Annotated[Principal, require(Perm.RULES_MANAGE)],
) -> RuleOut:
    changes = patch.model_dump(exclude_unset=True, exclude_none=True)
    return RuleOut.model_validate(rule_settings.update_rule(session, code, changes))
