"""Storage: one merge into readings, from arrays (a small batch: one statement) or from a
staging table filled by binary COPY (a large one: three statements, cheaper per row).

The COPY stream is built by numpy as one buffer (PostgreSQL's binary COPY format), and
the arrays are bound as binary parameters, so storing a batch costs no Python work per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from psycopg import Connection
from sqlalchemy.orm import Session

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)

# (column, SQL type, numpy big-endian type): the staging table and the COPY row layout.
STAGING_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("station_id", "integer", ">i4"),
    ("parameter_id", "smallint", ">i2"),
    ("time_us", "bigint", ">i8"),
    ("kind", "smallint", ">i2"),
    ("value", "double precision", ">f8"),
    ("data_flag", "text", "S1"),
    ("below_detection", "boolean", "u1"),
    ("qc_flag", "smallint", ">i2"),
    ("water_class", "smallint", ">i2"),
    ("backfill", "boolean", "u1"),
)
ROW_DTYPE = np.dtype(
    [("nfields", ">i2")]
    + [item for name, _, t in STAGING_COLUMNS for item in ((f"{name}_len", ">i4"), (name, t))]
)

CREATE_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS ingest_staging ("
    + ", ".join(f"{name} {sql_type} NOT NULL" for name, sql_type, _ in STAGING_COLUMNS)
    + ") ON COMMIT DELETE ROWS"
)
COPY_STAGING = (
    "COPY ingest_staging ("
    + ", ".join(name for name, _, _ in STAGING_COLUMNS)
    + ") FROM STDIN (FORMAT BINARY)"
)

# Up to this many rows a batch is merged from arrays in one statement; above it, COPY
# into the staging table and merge from there (measured: bench/README.md).
ARRAY_ROWS = 500
FROM_STAGING = "FROM ingest_staging"
FROM_ARRAYS = (
    "FROM unnest("
    + ", ".join(f"%({name})s::{sql_type}[]" for name, sql_type, _ in STAGING_COLUMNS)
    + ") AS a("
    + ", ".join(name for name, _, _ in STAGING_COLUMNS)
    + ")"
)
# One statement, a plain upsert: a row whose value, data flag and below-detection mark
# are already stored is left alone (a duplicate); a changed one is updated, and the
# readings_update trigger audits the value it replaces (migrations 0014_readings_triggers).
# `xmax = 0` tells the rows inserted from those updated: ON CONFLICT locks the row it
# updates, and the new version carries the lock. No bound reaches the planner: the plan
# scans no chunk, so the server keeps one generic plan for it.
MERGE = """
WITH upsert AS (
    INSERT INTO readings AS r (station_id, parameter_id, time, kind, value, data_flag,
                               below_detection, qc_flag, water_class, backfill, received_at)
    SELECT station_id, parameter_id,
           timestamptz 'epoch' + time_us * interval '1 microsecond', kind,
           value, data_flag, below_detection, qc_flag, water_class, backfill, now()
    {source}
    ON CONFLICT (station_id, parameter_id, time, kind) DO UPDATE SET
        value = excluded.value, data_flag = excluded.data_flag,
        below_detection = excluded.below_detection, qc_flag = excluded.qc_flag,
        water_class = excluded.water_class, backfill = excluded.backfill,
        received_at = excluded.received_at
    WHERE (r.value, r.data_flag, r.below_detection)
        IS DISTINCT FROM (excluded.value, excluded.data_flag, excluded.below_detection)
    RETURNING r.xmax = 0 AS inserted
){cleared}
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upsert
"""
# Empty the staging table for the next merge in this transaction (a file import runs
# many); it sees the rows as they were when the statement began, like the rest.
MERGE_STAGED = MERGE.format(
    source=FROM_STAGING, cleared=", cleared AS (DELETE FROM ingest_staging)"
)
MERGE_ARRAYS = MERGE.format(source=FROM_ARRAYS, cleared="")


@dataclass(frozen=True, slots=True)
class MergeCounts:
    inserted: int
    revised: int
    duplicate: int


def copy_buffer(columns: dict[str, npt.NDArray[Any]]) -> bytes:
    """The binary COPY stream of the rows in `columns` (equal-length arrays by column name)."""
    n = len(columns["value"])
    rows = np.empty(n, dtype=ROW_DTYPE)
    rows["nfields"] = len(STAGING_COLUMNS)
    for name, _, numpy_type in STAGING_COLUMNS:
        rows[f"{name}_len"] = np.dtype(numpy_type).itemsize
        rows[name] = columns[name]
    return COPY_HEADER + rows.tobytes() + COPY_TRAILER


def raw_connection(session: Session) -> Connection[Any]:
    """The psycopg connection under the session, inside the session's transaction."""
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, Connection)
    return driver


def merge(session: Session, columns: dict[str, npt.NDArray[Any]]) -> MergeCounts:
    """Store the rows: new ones inserted, changed ones revised (old value audited)."""
    n = len(columns["value"])
    if n == 0:
        return MergeCounts(0, 0, 0)
    conn = raw_connection(session)
    with conn.cursor(binary=True) as cur:
        if n <= ARRAY_ROWS:
            arrays = {name: columns[name].tolist() for name, _, _ in STAGING_COLUMNS}
            arrays["data_flag"] = columns["data_flag"].astype("U1").tolist()
            cur.execute(MERGE_ARRAYS, arrays)
        else:
            cur.execute(CREATE_STAGING)
            with cur.copy(COPY_STAGING) as copy:
                copy.write(copy_buffer(columns))
            cur.execute(MERGE_STAGED)
        row = cur.fetchone()
        assert row is not None
        inserted, revised = int(row[0]), int(row[1])
    return MergeCounts(inserted=inserted, revised=revised, duplicate=n - inserted - revised)
