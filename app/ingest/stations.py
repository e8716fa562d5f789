"""The posting station as ingest needs it, kept per process and confirmed on every batch.

A station changes rarely (a key rotation, a disabling, a QC threshold, a new section), so
each process keeps what ingest reads of it (StationRef) by key hash and by id. Nothing
is trusted unconfirmed: every batch's first statement (CHECK, sent in one pipeline with
the QC context query) re-reads the station row under FOR KEY SHARE and compares its
`version`, a hash of the fields the ref was built from. A key that no longer matches or a
disabled station answers no row (the batch is refused, 401); another version rebuilds the
ref. So the cache saves the lookup, never a check, and holds across replicas as well.

The FOR KEY SHARE lock is what the readings' foreign key used to take for every row; it
is taken once a batch here, and holds a station's deletion back until the batch commits
(see migrations 0011_ingest_storage).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.stations.service import hash_api_key
from core.errors import Unauthorized
from core.models import Station
from sensors.parameters import PARAMETERS
from sensors.qc_thresholds import QCThresholds, resolve_thresholds

log = logging.getLogger(__name__)

# What a ref is built from, hashed: a change to any of them is a new version.
VERSION = "md5(concat_ws('|', s.code, s.section_id, s.qc_overrides::text, sec.waterbody))"
# A station of no section (an outfall) runs into a river: its values are classed as such.
WATERBODY = "coalesce(sec.waterbody, 'river')"
LOAD = text(
    f"""
    SELECT s.id, s.code, s.section_id, {WATERBODY}, s.qc_overrides, s.api_key_hash,
           {VERSION}
    FROM stations s LEFT JOIN sections sec ON sec.id = s.section_id
    WHERE (s.api_key_hash = :hash AND s.active) OR s.id = :id
    """
)
# With %(hash)s NULL (the HJ 212 listener, whose logger logged in by MN and password) the
# station is confirmed by id alone, as the listener did before.
CHECK = f"""
    SELECT {VERSION},
           ARRAY(SELECT t.year FROM section_targets t
                 WHERE t.section_id = s.section_id ORDER BY t.year),
           ARRAY(SELECT t.binding_class FROM section_targets t
                 WHERE t.section_id = s.section_id ORDER BY t.year)
    FROM stations s LEFT JOIN sections sec ON sec.id = s.section_id
    WHERE s.id = %(station)s
      AND (%(hash)s::text IS NULL OR (s.api_key_hash = %(hash)s AND s.active))
    FOR KEY SHARE OF s
"""
CACHE_LIMIT = 100_000  # stations per process; beyond it the cache starts again


@dataclass(frozen=True, slots=True)
class StationRef:
    id: int
    code: str
    section_id: int | None  # None: a station of no section (an outfall)
    waterbody: str
    key_hash: str
    version: str
    thresholds: Mapping[int, QCThresholds]  # by parameter id, the station's overrides applied


@dataclass(frozen=True, slots=True)
class Confirmed:
    """The station as the batch's transaction sees it, locked until the commit."""

    version: str
    targets: tuple[tuple[int, int], ...]  # (year, binding class) of its section, by year

    def binding_target(self, year: int) -> int | None:
        """catalogue.in_force's rule: the last target from before `year`, else the first."""
        if not self.targets:
            return None
        chosen = self.targets[0][1]
        for target_year, binding in self.targets:
            if target_year <= year:
                chosen = binding
        return chosen


_by_hash: dict[str, StationRef] = {}
_by_id: dict[int, StationRef] = {}


def _ref(row: Any) -> StationRef:
    overrides = row[4] or {}
    thresholds = {p.id: resolve_thresholds(p.code, overrides.get(p.code)) for p in PARAMETERS}
    return StationRef(
        id=row[0], code=row[1], section_id=row[2], waterbody=row[3], key_hash=row[5],
        version=row[6], thresholds=MappingProxyType(thresholds),
    )  # fmt: skip


def _keep(ref: StationRef) -> StationRef:
    if len(_by_id) >= CACHE_LIMIT:
        _by_hash.clear()
        _by_id.clear()
    old = _by_id.get(ref.id)
    if old is not None and old.key_hash != ref.key_hash:
        _by_hash.pop(old.key_hash, None)  # a rotated key leaves with its old ref
    _by_id[ref.id] = _by_hash[ref.key_hash] = ref
    return ref


def forget(ref: StationRef) -> None:
    _by_hash.pop(ref.key_hash, None)
    _by_id.pop(ref.id, None)


def cached(key: str) -> StationRef | None:
    """The API key's station if this process has it (unconfirmed: the batch's CHECK)."""
    return _by_hash.get(hash_api_key(key))


def by_key(session: Session, key: str) -> StationRef:
    """The active station of an API key: from the cache, confirmed by the batch's CHECK."""
    key_hash = hash_api_key(key)
    ref = _by_hash.get(key_hash)
    if ref is not None:
        return ref
    row = session.execute(LOAD, {"hash": key_hash, "id": None}).first()
    if row is None:
        # The key's hash prefix lets an operator match repeated refusals of one key
        # without the key itself ever reaching the log.
        log.warning("station key refused", extra={"key_hash": key_hash[:12]})
        raise Unauthorized("unknown or inactive station key")
    return _keep(_ref(row))


def by_id(session: Session, station_id: int) -> StationRef:
    ref = _by_id.get(station_id)
    if ref is not None:
        return ref
    row = session.execute(LOAD, {"hash": None, "id": station_id}).first()
    if row is None:
        raise Unauthorized(f"no station {station_id}")
    return _keep(_ref(row))


def of(session: Session, station: Station | StationRef) -> StationRef:
    return station if isinstance(station, StationRef) else by_id(session, station.id)


def reload(session: Session, ref: StationRef) -> StationRef:
    """The ref rebuilt from the row (its version changed); the key is checked again."""
    forget(ref)
    row = session.execute(LOAD, {"hash": None, "id": ref.id}).first()
    if row is None:
        raise Unauthorized("unknown or inactive station key")
    return _keep(_ref(row))


def check_params(ref: StationRef, *, by_key: bool) -> dict[str, Any]:
    return {"station": ref.id, "hash": ref.key_hash if by_key else None}


def confirmed(row: Any, ref: StationRef, *, by_key: bool) -> Confirmed:
    """CHECK's answer for `ref`: Unauthorized when the key or the station is gone."""
    if row is None:
        forget(ref)
        if by_key:
            log.warning("station key refused", extra={"key_hash": ref.key_hash[:12]})
        raise Unauthorized("unknown or inactive station key")
    years, classes = row[1], row[2]
    return Confirmed(version=row[0], targets=tuple(zip(years, classes, strict=True)))
