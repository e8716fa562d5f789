"""ingest storage: readings without per-row foreign-key checks; stations and parameters
guard their readings by statement-level triggers instead

The two foreign keys on readings ran a trigger per inserted row (a lookup and a row lock
of the station and of the parameter): measured on TimescaleDB 2.19.3, binary COPY into
readings ran at 63–92 k rows/s with them and 216–231 k rows/s without (bench/README.md).
Ingest checks both before storing: the parameter is one of the catalogue's (parse_items),
and the station is confirmed and locked FOR KEY SHARE once per batch (app.ingest.stations
CHECK), which is what the foreign key locked once per row. What the keys also did is kept:
- deleting stations deletes their readings (ON DELETE CASCADE before): an AFTER DELETE
  statement trigger on stations, one DELETE for all the statement's stations. A batch
  holding its station's lock makes the deletion wait for its commit; the trigger then
  runs with a snapshot that sees the batch's rows, and deletes them too;
- a parameter with readings cannot be deleted (NO ACTION before): an AFTER DELETE
  statement trigger on parameters raises foreign_key_violation (23503).

Revision ID: 0011_ingest_storage
Revises: 0010_upstream
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_ingest_storage"
down_revision: str | None = "0010_upstream"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

FUNCTIONS = """
CREATE FUNCTION stations_delete_readings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM readings r USING gone g WHERE r.station_id = g.id;
    RETURN NULL;
END $$;
CREATE TRIGGER stations_delete_readings AFTER DELETE ON stations
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION stations_delete_readings();

CREATE FUNCTION parameters_keep_readings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    used smallint;
BEGIN
    SELECT g.id INTO used FROM gone g
    WHERE EXISTS (SELECT 1 FROM readings r WHERE r.parameter_id = g.id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'parameter % has readings', used
            USING ERRCODE = 'foreign_key_violation', TABLE = 'readings';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER parameters_keep_readings AFTER DELETE ON parameters
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION parameters_keep_readings();
"""


def upgrade() -> None:
    op.drop_constraint(op.f("fk_readings_station_id_stations"), "readings", type_="foreignkey")
    op.drop_constraint(op.f("fk_readings_parameter_id_parameters"), "readings", type_="foreignkey")
    op.execute(FUNCTIONS)


def downgrade() -> None:
    op.execute("DROP TRIGGER parameters_keep_readings ON parameters")
    op.execute("DROP FUNCTION parameters_keep_readings()")
    op.execute("DROP TRIGGER stations_delete_readings ON stations")
    op.execute("DROP FUNCTION stations_delete_readings()")
    op.create_foreign_key(
        op.f("fk_readings_station_id_stations"),
        "readings",
        "stations",
        ["station_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        op.f("fk_readings_parameter_id_parameters"),
        "readings",
        "parameters",
        ["parameter_id"],
        ["id"],
    )
