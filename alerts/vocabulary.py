"""The rules and the events they raise, named once: the notifier, the incident lifecycle,
the message templates and the pages all read them from here."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Rule(StrEnum):
    CLASS_V = "class_v"
    TARGET_MISS = "target_miss"
    STATION_SILENT = "station_silent"

    @property
    def raises(self) -> Event:
        """The event that announces an incident of this rule."""
        return _RAISES[self]

    @property
    def label(self) -> str:
        """For people, in the plan's words and English."""
        return _TITLES[self]


class Event(StrEnum):
    """Dotted event types: the webhook body's `type` and the SMS template's name."""

    CLASS_V = "alert.class_v"
    TARGET_MISSED = "alert.target_missed"
    STATION_SILENT = "station.silent"
    REMINDER = "alert.reminder"
    ESCALATED = "alert.escalated"
    CLASS_V_CLEARED = "alert.class_v_cleared"
    RESOLVED = "alert.resolved"
    # Raised on a QC-suspect reading, before any good reading confirms it; withdrawn
    # when the next good reading does not.
    UNCONFIRMED = "alert.unconfirmed"
    NOT_CONFIRMED = "alert.not_confirmed"


_RAISES: Mapping[Rule, Event] = MappingProxyType(
    {
        Rule.CLASS_V: Event.CLASS_V,
        Rule.TARGET_MISS: Event.TARGET_MISSED,
        Rule.STATION_SILENT: Event.STATION_SILENT,
    }
)
_TITLES: Mapping[Rule, str] = MappingProxyType(
    {
        Rule.CLASS_V: "水质为Ⅴ类或劣Ⅴ类 / class V or worse",
        Rule.TARGET_MISS: "未达水质目标 / target class missed",
        Rule.STATION_SILENT: "站点无数据 / station silent",
    }
)
# Messages that chase an open incident, and those that announce one.
CHASERS: tuple[Event, ...] = (Event.REMINDER, Event.ESCALATED)
RAISES: tuple[Event, ...] = (*_RAISES.values(), Event.UNCONFIRMED)
