"""The Chinese alert texts, one per event type, rendered with str.format named fields.

The texts carry no signature (【水质预警】) and no ack link: the SMS channel adds both,
so that truncation can keep them. Each text must match the template registered with
the SMS provider under the same event (SmsSettings.template_ids), field names included:
the gateway receives the fields as template params.

Fields are display strings, formatted by the caller (values at the parameter's
reporting precision, times with format_time, classes with class_label).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from string import Formatter
from types import MappingProxyType

from sensors.gb3838 import WaterClass
from sensors.local_time import SHANGHAI

TEMPLATES: Mapping[str, str] = MappingProxyType(
    {
        "alert.class_v": (
            "{section}断面{time}{indicator}{value}{unit}，为{class}类，目标{target}类，请及时处置。"
        ),
        "alert.target_missed": (
            "{section}断面{time}{indicator}{value}{unit}，为{class}类，未达目标{target}类，"
            "请关注并处置。"
        ),
        "alert.escalated": (
            "{section}断面自{since}起为{class}类（目标{target}类），{level}河长未确认处置，"
            "现提级通报，请督促落实。"
        ),
        "alert.reminder": "{section}断面{class}类预警（{since}起）尚未确认处置，请及时处置。",
        "alert.resolved": "{section}断面{time}水质恢复为{class}类，达到目标{target}类，预警解除。",
        "alert.class_v_cleared": "{section}断面{time}水质为{class}类，已消除Ⅴ类，Ⅴ类预警解除。",
        "alert.unconfirmed": (
            "{section}断面{time}{indicator}{value}{unit}，疑似{class}类，数据待确认"
            "（下一次监测确认或撤销），请关注。"
        ),
        "alert.not_confirmed": (
            "{section}断面{time}监测为{class}类，此前未经确认的{indicator}预警不成立，予以撤销。"
        ),
        "station.silent": "{section}断面{station}自{since}起无数据上报，请核查设备及通讯。",
        "digest.daily": "{date}水质日报：未解除预警{open}起（严重{critical}起），{sections}。",
    }
)


def class_label(grade: int) -> str:
    """Ⅰ … Ⅴ, 劣Ⅴ: the national platform's Unicode Roman numerals (sensors.gb3838)."""
    if not 1 <= grade <= WaterClass.WORSE_THAN_V:
        raise ValueError(f"class grade {grade}: expected 1-6 (6 = 劣Ⅴ)")
    return WaterClass(grade).label


def format_time(moment: datetime) -> str:
    """Beijing time as an SMS reads it, e.g. 5月1日08:00."""
    if moment.utcoffset() is None:
        raise ValueError("moment must be timezone-aware")
    local = moment.astimezone(SHANGHAI)
    return f"{local.month}月{local.day}日{local:%H:%M}"


def fields(event: str) -> tuple[str, ...]:
    """The template's field names, in order of appearance; () for an event without one."""
    template = TEMPLATES.get(event)
    if template is None:
        return ()
    return tuple(dict.fromkeys(name for _, name, _, _ in Formatter().parse(template) if name))


def render(event: str, values: Mapping[str, object]) -> str:
    try:
        template = TEMPLATES[event]
    except KeyError:
        raise KeyError(f"no template for event {event!r}") from None
    missing = [name for name in fields(event) if name not in values]
    if missing:
        raise KeyError(f"template {event!r} needs {', '.join(missing)}")
    return template.format_map(values)
