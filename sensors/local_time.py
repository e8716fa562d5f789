"""China's one time zone. Stations, plans and people all count days in it."""

from __future__ import annotations

from typing import Final
from zoneinfo import ZoneInfo

SHANGHAI: Final = ZoneInfo("Asia/Shanghai")
