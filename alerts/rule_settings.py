"""Reading and changing the rules' configuration (the alert_rules table)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.models import AlertRule
from alerts.rules import Persistence
from alerts.vocabulary import Rule
from core.errors import BadRequest, NotFound


def _whole(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)  # True is an int in Python


# field: (check, what it must be)
CHECKS: dict[str, tuple[Any, str]] = {
    "enabled": (lambda v: isinstance(v, bool), "true or false"),
    "persistence": (
        lambda v: v in {p.value for p in Persistence},
        "first, consecutive or rolling_mean",
    ),
    "consecutive": (lambda v: _whole(v) and 1 <= v <= 100, "a whole number 1–100"),
    "window_s": (lambda v: _whole(v) and 60 <= v <= 7 * 86400, "60 s to 7 days"),
    "hold_s": (lambda v: _whole(v) and 0 <= v <= 7 * 86400, "0 s to 7 days"),
    "repeat_s": (lambda v: _whole(v) and 60 <= v <= 7 * 86400, "60 s to 7 days"),
    "unconfirmed": (lambda v: isinstance(v, bool), "true or false"),
    "unconfirmed_tier1": (lambda v: isinstance(v, bool), "true or false"),
    "clear_margin": (
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 0.5,
        "a fraction 0 to 0.5",
    ),
    "clear_readings": (lambda v: _whole(v) and 1 <= v <= 24, "a whole number 1–24"),
    "silent_factor": (
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 1 <= v <= 1000,
        "1 to 1000",
    ),
}


def list_rules(session: Session) -> Sequence[AlertRule]:
    return session.scalars(select(AlertRule).order_by(AlertRule.code)).all()


def update_rule(session: Session, code: str, changes: dict[str, Any]) -> AlertRule:
    """Apply changes (validated field by field); unknown fields are refused by name."""
    if code not in {r.value for r in Rule}:
        raise NotFound(f"no rule {code!r}; rules: {', '.join(r.value for r in Rule)}")
    rule = session.get(AlertRule, code, with_for_update=True)
    if rule is None:
        raise NotFound(f"no rule {code!r}")
    problems = [f"unknown field {k!r}" for k in changes if k not in CHECKS]
    problems += [
        f"{k} must be {CHECKS[k][1]}, not {v!r}"
        for k, v in changes.items()
        if k in CHECKS and not CHECKS[k][0](v)
    ]
    if problems:
        raise BadRequest("; ".join(problems))
    for k, v in changes.items():
        setattr(rule, k, v)
    session.flush()
    return rule
