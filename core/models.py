"""The relational schema, as ORM classes. Migrations build it; this mirrors them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    case,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column, relationship
from sqlalchemy.sql import Subquery

# Deterministic constraint names, so migrations can name what they drop.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CONTROL_LEVELS = ("national", "provincial", "municipal")
WATERBODIES = ("river", "lake")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Zone(Base):
    """A key zone or basin of the plan's annex 2."""

    __tablename__ = "zones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    goal: Mapped[str] = mapped_column(Text)
    # Lead government first, as the annex lists them.
    governments: Mapped[list[str]] = mapped_column(ARRAY(Text))

    sections: Mapped[list[Section]] = relationship(back_populates="zone", order_by="Section.code")


class Section(Base):
    """A monitoring cross-section (断面) of a river."""

    __tablename__ = "sections"
    __table_args__ = (
        CheckConstraint(f"control_level IN {CONTROL_LEVELS}", name="control_level"),
        CheckConstraint(f"waterbody IN {WATERBODIES}", name="waterbody"),
        CheckConstraint("class_2020 BETWEEN 1 AND 6", name="class_2020"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    control_level: Mapped[str] = mapped_column(String(16))
    water_system: Mapped[str] = mapped_column(Text)
    areas: Mapped[list[str]] = mapped_column(ARRAY(Text))
    key_control_range: Mapped[str] = mapped_column(Text)
    waterbody: Mapped[str] = mapped_column(String(8), server_default="river")
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id", ondelete="SET NULL"))
    class_2020: Mapped[int | None] = mapped_column(SmallInteger)
    # Parameter codes of the plan's 主要超标因子 for 2020.
    main_factors_2020: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")

    zone: Mapped[Zone | None] = relationship(back_populates="sections")
    targets: Mapped[list[SectionTarget]] = relationship(
        back_populates="section", order_by="SectionTarget.year", cascade="all, delete-orphan"
    )
    stations: Mapped[list[Station]] = relationship(back_populates="section")


class SectionTarget(Base):
    """A section's class target for one year: binding, and optionally a stretch (力争) class."""

    __tablename__ = "section_targets"
    __table_args__ = (
        CheckConstraint("binding_class BETWEEN 1 AND 5", name="binding_class"),
        CheckConstraint(
            "stretch_class IS NULL OR stretch_class < binding_class", name="stretch_better"
        ),
    )

    section_id: Mapped[int] = mapped_column(
        ForeignKey("sections.id", ondelete="CASCADE"), primary_key=True
    )
    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    binding_class: Mapped[int] = mapped_column(SmallInteger)
    stretch_class: Mapped[int | None] = mapped_column(SmallInteger)

    section: Mapped[Section] = relationship(back_populates="targets")


class Station(Base):
    """An automatic monitoring station (its data logger), reporting for a section or, like a
    park outfall watched for tracing, for none."""

    __tablename__ = "stations"
    __table_args__ = (CheckConstraint("reporting_interval_s > 0", name="interval_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    # HJ 212 MN: the logger's unique identifier on the wire.
    mn: Mapped[str | None] = mapped_column(String(32), unique=True)
    section_id: Mapped[int | None] = mapped_column(
        ForeignKey("sections.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    reporting_interval_s: Mapped[int] = mapped_column(Integer, server_default="3600")
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    simulated: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # SHA-256 of the key; the key itself is shown once and never stored.
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Salted PBKDF2 of the logger's HJ 212 PW (app.hj212.passwords); None: no HJ 212.
    hj212_password_hash: Mapped[str | None] = mapped_column(String(128))
    # {parameter code: {QC threshold field: value}} over sensors.qc's defaults.
    qc_overrides: Mapped[dict[str, dict[str, float | None]]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    section: Mapped[Section | None] = relationship(back_populates="stations")


class UpstreamLink(Base):
    """A station upstream of a section, as the bureau entered it: border stations,
    township points, park outfalls. Never inferred."""

    __tablename__ = "upstream_links"
    __table_args__ = (
        CheckConstraint("position > 0", name="position"),
        CheckConstraint("travel_time_min IS NULL OR travel_time_min >= 0", name="travel_time"),
        UniqueConstraint("section_id", "position"),
    )

    section_id: Mapped[int] = mapped_column(
        ForeignKey("sections.id", ondelete="CASCADE"), primary_key=True
    )
    station_id: Mapped[int] = mapped_column(
        ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    # Order along the river, downstream: 1 is the farthest upstream.
    position: Mapped[int] = mapped_column(SmallInteger)
    # Typical travel time from the station to the section, minutes; None: not known.
    travel_time_min: Mapped[int | None] = mapped_column(Integer)

    station: Mapped[Station] = relationship()


class ParameterRow(Base):
    """The parameter catalogue (sensors.parameters) as a table, for joins and the API."""

    __tablename__ = "parameters"
    __table_args__ = (
        CheckConstraint("direction IN ('le', 'ge', 'range', 'none')", name="direction"),
    )

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name_zh: Mapped[str] = mapped_column(String(32))
    name_en: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(16))
    hj212_2017: Mapped[str] = mapped_column(String(16), unique=True)
    hj212_2005: Mapped[str | None] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(8))
    precision: Mapped[int | None] = mapped_column(SmallInteger)
    plausible_min: Mapped[float] = mapped_column(Double)
    plausible_max: Mapped[float] = mapped_column(Double)
    evaluated: Mapped[bool] = mapped_column(Boolean)


class Reading(Base):
    """One value of one parameter at one station and time. A hypertable on TimescaleDB."""

    __tablename__ = "readings"
    __table_args__ = (
        Index("ix_readings_time", "time"),
        # Early warning (alerts/early_warning.py) looks for the changed stations' recent
        # suspect live readings every run: rare rows, so a small index of their own.
        Index(
            "ix_readings_suspect",
            "station_id",
            "time",
            postgresql_where=text("qc_flag = 3 AND NOT backfill"),
        ),
        CheckConstraint("water_class BETWEEN 0 AND 6", name="water_class"),
        CheckConstraint("kind BETWEEN 0 AND 3", name="kind"),
    )

    # No foreign keys, on purpose: a per-row check cost the storage path 2.5–3.7×. Ingest
    # confirms the station (locked) and the parameters once per batch, and triggers on
    # stations and parameters keep the rest (migrations 0011_ingest_storage).
    station_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    parameter_id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    # sensors.readings.Kind: 0 an instant reading; 1, 2, 3 a minute, hour or day mean
    # (HJ 212 period data, time = the period's start). Never mixed without saying so.
    kind: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default="0")
    value: Mapped[float] = mapped_column(Double)
    # HJ 212 data flag as the logger sent it (N normal, M maintenance, …).
    data_flag: Mapped[str] = mapped_column(String(1), server_default="N")
    below_detection: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # QARTOD flag (sensors.qc.QCFlag); 2 = not evaluated.
    qc_flag: Mapped[int] = mapped_column(SmallInteger, server_default="2")
    # GB 3838 class of this value alone: 1–5, 6 for 劣Ⅴ, 0 when the item is not classified.
    water_class: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # Arrived later than the late-data horizon: stored and classified, never alerted on.
    backfill: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # What the value counts as in classes, means and alerts (see counted_value_sql).
    counted_value: Mapped[float] = column_property(case((below_detection, value / 2), else_=value))


def counted_value_sql(alias: str) -> str:
    """A value below the detection limit counts as half of it (环办监测函〔2020〕82号): in
    every class, mean and alert. Reading.counted_value is the same rule for the ORM, and
    sensors.readings.counted_value for arrays."""
    return f"CASE WHEN {alias}.below_detection THEN {alias}.value / 2 ELSE {alias}.value END"


class ReadingRevision(Base):
    """A value a station replaced: the stored reading as it was before the revision."""

    __tablename__ = "reading_revisions"
    __table_args__ = (Index("ix_reading_revisions_key", "station_id", "parameter_id", "time"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    parameter_id: Mapped[int] = mapped_column(SmallInteger)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    value: Mapped[float] = mapped_column(Double)
    data_flag: Mapped[str] = mapped_column(String(1))
    below_detection: Mapped[bool] = mapped_column(Boolean)
    qc_flag: Mapped[int] = mapped_column(SmallInteger)
    water_class: Mapped[int] = mapped_column(SmallInteger)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    replaced_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Hj212Link(Base):
    """A station's HJ 212 protocol state: what the listener saw of its logger."""

    __tablename__ = "hj212_links"

    station_id: Mapped[int] = mapped_column(
        ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[str | None] = mapped_column(String(8))  # 2005, 2017, 2025
    connected: Mapped[bool] = mapped_column(Boolean, server_default="false")
    peer: Mapped[str | None] = mapped_column(String(64))
    connected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disconnected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_packet_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    packets: Mapped[int] = mapped_column(BigInteger, server_default="0")
    replies: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # {reason: count}: crc, field, item, unknown code, duplicate part, …
    refusals: Mapped[dict[str, int]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class Hj212Refusal(Base):
    """One refused item (or packet) of an authenticated logger, with its QN and MN."""

    __tablename__ = "hj212_refusals"
    __table_args__ = (Index("ix_hj212_refusals_station_id", "station_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    qn: Mapped[str | None] = mapped_column(String(20))
    mn: Mapped[str] = mapped_column(String(32))
    cn: Mapped[str | None] = mapped_column(String(4))
    item: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)


class Hj212Part(Base):
    """A part of a split upload (PNUM/PNO), kept until all parts are in."""

    __tablename__ = "hj212_parts"

    station_id: Mapped[int] = mapped_column(
        ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    cn: Mapped[str] = mapped_column(String(4), primary_key=True)
    data_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    pnum: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    pno: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    segment: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


HJ212_COMMAND_STATES = ("queued", "sent", "accepted", "refused", "done", "failed", "expired")


class Hj212Command(Base):
    """A host command to a logger (1012 set time, 3012 sample…) and its 9011/9012 answers."""

    __tablename__ = "hj212_commands"
    __table_args__ = (
        CheckConstraint(f"state IN {HJ212_COMMAND_STATES}", name="state"),
        UniqueConstraint("station_id", "qn", name="uq_hj212_commands_station_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    qn: Mapped[str] = mapped_column(String(20))
    cn: Mapped[str] = mapped_column(String(4))
    cp: Mapped[str] = mapped_column(Text, server_default="")
    state: Mapped[str] = mapped_column(String(16), server_default="queued")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    qn_rtn: Mapped[int | None] = mapped_column(SmallInteger)
    exe_rtn: Mapped[int | None] = mapped_column(SmallInteger)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A re-measure asked for an (unconfirmed) incident: its timeline shows the answers.
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), index=True
    )


class StoredReport(Base):
    """A generated report kept for download (the quarterly report the scheduler writes):
    the city's (no zone) and each zone's, which a zone officer may download."""

    __tablename__ = "stored_reports"
    __table_args__ = (
        UniqueConstraint("kind", "period", "zone_id", postgresql_nulls_not_distinct=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(64))
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    xlsx: Mapped[bytes] = mapped_column(LargeBinary)
    csv_zip: Mapped[bytes] = mapped_column(LargeBinary)


class EvaluatorFeed(Base):
    """A station's readings written by one statement, not yet consumed by the evaluator.

    Written by a trigger on readings in the writing transaction (migration
    0012_evaluator_feed); the evaluator consumes it with DELETE … RETURNING.
    """

    __tablename__ = "evaluator_feed"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # No foreign key: a post never waits on it; the evaluator joins stations.
    station_id: Mapped[int] = mapped_column(Integer)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the newest written
    live: Mapped[bool] = mapped_column(Boolean)  # any of them not backfill
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class StationLatest(Base):
    """A station's newest reading time (any item, flag or kind) as of the feed the
    evaluator has consumed; last_reading_times() adds what it has not."""

    __tablename__ = "station_latest"

    station_id: Mapped[int] = mapped_column(
        ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def last_reading_times() -> Subquery:
    """Per station (station_id, time): its newest reading time, null if none; set-based,
    never a probe of each station's readings."""
    pending = (
        select(EvaluatorFeed.station_id, func.max(EvaluatorFeed.time).label("time"))
        .group_by(EvaluatorFeed.station_id)
        .subquery("pending")
    )
    return (
        select(
            Station.id.label("station_id"),
            # greatest() skips nulls: either may be missing.
            func.greatest(StationLatest.time, pending.c.time).label("time"),
        )
        .outerjoin(StationLatest, StationLatest.station_id == Station.id)
        .outerjoin(pending, pending.c.station_id == Station.id)
        .subquery("last_reading")
    )
