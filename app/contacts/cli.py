"""`riverwatch contact …` and `riverwatch mute …`. The service is imported by each
command: the CLI's start-up must not pay for SQLAlchemy and the models."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from app.cli_db import settings, transaction
from sensors.local_time import local_minute

contacts_cli = typer.Typer(
    no_args_is_help=True, help="Manage river chiefs, liaisons and their section routes."
)
mute_cli = typer.Typer(
    no_args_is_help=True, help="Manage mute windows (planned maintenance), Asia/Shanghai time."
)

SectionOpt = Annotated[str, typer.Option("--section", help="section code, e.g. S07")]
TierOpt = Annotated[int, typer.Option(help="escalation tier, 1 (told first) to 9")]


def _parse_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a time like 2026-05-01T08:00") from None


@contacts_cli.command("add")
def contact_add(
    name: Annotated[str, typer.Argument(help="person or office")],
    level: Annotated[
        str, typer.Option(help="liaison, village, township, county, office or operations")
    ],
    phone: Annotated[str | None, typer.Option(help="mainland mobile number")] = None,
    section: Annotated[str | None, typer.Option(help="assign to this section")] = None,
    tier: TierOpt = 1,
    webhook: Annotated[str | None, typer.Option(help="add this webhook endpoint URL")] = None,
) -> None:
    """Add a contact, optionally on a section's route and with a webhook endpoint."""
    from alerts import contacts as service

    with transaction() as session:
        contact = service.create_contact(session, name=name, level=level, phone=phone)
        if section is not None:
            service.assign(session, section, contact.id, tier)
        allow = settings().webhooks_may_reach_internal
        secret = (
            service.add_webhook(session, contact.id, webhook, allow_internal=allow)[1]
            if webhook
            else None
        )
        contact_id = contact.id
    where = f" on {section} tier {tier}" if section else ""
    typer.echo(f"contact {contact_id} added: {name} ({level}){where}")
    if secret is not None:
        typer.echo(f"webhook secret (store it now; it is not shown again): {secret}")


@contacts_cli.command("list")
def contact_list(
    section: Annotated[str | None, typer.Option(help="only this section's contacts")] = None,
) -> None:
    """List contacts: id, level, name, phone, state, sections:tiers, webhook count."""
    from alerts import contacts as service

    with transaction() as session:
        for c in service.list_contacts(session, section_code=section):
            routes = ",".join(sorted(f"{a.section.code}:{a.tier}" for a in c.assignments))
            state = "active" if c.active else "inactive"
            typer.echo(
                f"{c.id}\t{c.level}\t{c.name}\t{c.phone or '-'}\t{state}\t{routes or '-'}"
                f"\t{len(c.endpoints)} webhooks"
            )


@contacts_cli.command("import")
def contact_import(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV file")],
) -> None:
    """Import name,level,phone,section,tier[,webhook_url] rows; re-running changes nothing."""
    with transaction() as session:
        from app.contacts.importer import import_contacts_csv

        report = import_contacts_csv(
            session, path, allow_internal=settings().webhooks_may_reach_internal
        )
    for e in report.errors:
        typer.echo(f"line {e.line}: {e.reason}", err=True)
    for w in report.webhooks:
        typer.echo(f"webhook {w.url} for {w.name}: secret (shown once) {w.secret}")
    typer.echo(
        f"{report.rows} rows: {report.contacts_created} contacts created, "
        f"{report.assignments_created} assignments created, "
        f"{report.assignments_updated} updated, {len(report.errors)} refused"
    )
    if report.errors:
        raise typer.Exit(1)


@contacts_cli.command("assign")
def contact_assign(
    contact_id: Annotated[int, typer.Argument(help="the contact's id")],
    section: SectionOpt,
    tier: TierOpt = 1,
) -> None:
    """Put a contact on a section's route at a tier (or move them to it)."""
    from alerts import contacts as service

    with transaction() as session:
        service.assign(session, section, contact_id, tier)
    typer.echo(f"contact {contact_id} on {section} tier {tier}")


@contacts_cli.command("unassign")
def contact_unassign(
    contact_id: Annotated[int, typer.Argument(help="the contact's id")], section: SectionOpt
) -> None:
    """Take a contact off a section's route."""
    from alerts import contacts as service

    with transaction() as session:
        service.unassign(session, section, contact_id)
    typer.echo(f"contact {contact_id} removed from {section}")


@contacts_cli.command("deactivate")
def contact_deactivate(contact_id: Annotated[int, typer.Argument(help="the contact's id")]) -> None:
    """Stop notifying a contact; their history stays."""
    from alerts import contacts as service

    with transaction() as session:
        service.deactivate_contact(session, contact_id)
    typer.echo(f"contact {contact_id} deactivated")


@contacts_cli.command("escalation")
def contact_escalation(
    section: Annotated[str, typer.Argument(help="section code")],
    delays: Annotated[
        str, typer.Option(help="seconds per tier from tier 1, e.g. 0,1800,7200; '' clears")
    ],
) -> None:
    """Replace a section's escalation delays."""
    from alerts import contacts as service

    try:
        seconds = [int(d) for d in delays.split(",") if d.strip()]
    except ValueError:
        raise typer.BadParameter(f"{delays!r} is not a comma-separated list of seconds") from None
    with transaction() as session:
        service.set_escalation(session, section, list(enumerate(seconds, start=1)))
    steps = ", ".join(f"tier {t} after {d}s" for t, d in enumerate(seconds, start=1))
    typer.echo(f"{section}: {steps or 'no escalation'}")


@mute_cli.command("add")
def mute_add(
    start: Annotated[str, typer.Option("--from", help="start, e.g. 2026-05-01T08:00 (Shanghai)")],
    until: Annotated[str, typer.Option("--until", help="end, exclusive (Shanghai time)")],
    section: Annotated[str | None, typer.Option(help="section code")] = None,
    station: Annotated[str | None, typer.Option(help="station code")] = None,
    reason: Annotated[str, typer.Option(help="why, e.g. planned maintenance")] = "",
) -> None:
    """Mute a section or a station; times without an offset are Asia/Shanghai time."""
    from alerts import contacts as service

    starts_at, ends_at = _parse_time(start), _parse_time(until)
    with transaction() as session:
        mute = service.create_mute(
            session,
            starts_at=starts_at,
            ends_at=ends_at,
            section_code=section,
            station_code=station,
            reason=reason,
        )
        line = f"mute {mute.id} added: {section or station} {local_minute(mute.starts_at)}"
        line += f" – {local_minute(mute.ends_at)}"
    typer.echo(line)


@mute_cli.command("list")
def mute_list(
    include_past: Annotated[bool, typer.Option("--all", help="include ended windows")] = False,
) -> None:
    """List mute windows: id, target, start, end (Shanghai time), reason."""
    from alerts import contacts as service

    with transaction() as session:
        found = service.list_mutes(session, now=datetime.now(UTC), include_past=include_past)
        for m, sec, sta in found:
            target = f"section {sec}" if sec else f"station {sta}"
            typer.echo(
                f"{m.id}\t{target}\t{local_minute(m.starts_at)}\t"
                f"{local_minute(m.ends_at)}\t{m.reason or '-'}"
            )


@mute_cli.command("remove")
def mute_remove(mute_id: Annotated[int, typer.Argument(help="the window's id")]) -> None:
    """Delete a mute window."""
    from alerts import contacts as service

    with transaction() as session:
        service.delete_mute(session, mute_id)
    typer.echo(f"mute {mute_id} removed")
