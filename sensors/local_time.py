"""China's one time zone. Stations, plans and people all count days in it."""

from __future__ import annotations

from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

SHANGHAI: Final = ZoneInfo("Asia/Shanghai")


def local_minute(at: datetime) -> str:
    """A time as people here read it: Beijing time to the minute."""
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
