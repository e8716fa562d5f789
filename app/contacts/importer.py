"""The CSV import of contacts and their routes, shared by the API and the CLI.

CSV columns: name,level,phone,section,tier[,webhook_url] — one row per assignment. Rows
with the same name and phone are one contact; section may be empty (a contact without a
route yet), tier defaults to 1; a webhook_url adds that endpoint unless the contact has it.
Each row is applied in its own savepoint, so bad rows are reported and good rows kept, and
a second run of the same file changes nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from sqlalchemy.orm import Session

from alerts import contacts as service
from alerts.models import SectionContact
from core.catalogue import get_section
from core.errors import BadRequest, RiverwatchError
from sensors.text_files import decode_text

REQUIRED_COLUMNS: Final = ("name", "level", "phone", "section", "tier")
OPTIONAL_COLUMNS: Final = ("webhook_url",)


@dataclass(frozen=True, slots=True)
class RowError:
    line: int  # physical line in the file, the header being line 1
    reason: str


@dataclass(frozen=True, slots=True)
class NewWebhook:
    contact_id: int
    name: str
    url: str
    secret: str  # shown in the import's report only: receivers need it to verify


@dataclass(slots=True)
class ImportReport:
    rows: int = 0
    contacts_created: int = 0
    assignments_created: int = 0
    assignments_updated: int = 0
    webhooks: list[NewWebhook] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def decode_csv(data: bytes) -> str:
    try:
        return decode_text(data)
    except ValueError as exc:
        raise BadRequest(f"the CSV: {exc}") from None


def csv_reader(
    text: str, required: tuple[str, ...], optional: tuple[str, ...]
) -> csv.DictReader[str]:
    """Rows of a CSV import by its header's (stripped) names; a missing column is refused
    before any row is read."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [c.strip() for c in reader.fieldnames or ()]
    missing = [c for c in required if c not in header]
    if missing:
        raise BadRequest(
            f"CSV header lacks {', '.join(missing)}; expected {','.join(required + optional)}"
        )
    reader.fieldnames = header
    return reader


def import_contacts_csv(
    session: Session, path: Path, *, allow_internal: bool = False
) -> ImportReport:
    return import_contacts_text(
        session, decode_csv(path.read_bytes()), allow_internal=allow_internal
    )


def import_contacts_text(
    session: Session, text: str, *, allow_internal: bool = False
) -> ImportReport:
    """`allow_internal`: webhook URLs may point inside this network (development)."""
    reader = csv_reader(text, REQUIRED_COLUMNS, OPTIONAL_COLUMNS)
    report = ImportReport()
    for row in reader:
        report.rows += 1
        try:
            if None in row:
                raise BadRequest("more fields than the header has columns")
            with session.begin_nested():
                _import_row(session, row, report, allow_internal)
        except RiverwatchError as exc:
            report.errors.append(RowError(reader.line_num, exc.message))
    return report


def _cell(row: dict[str, str], column: str) -> str:
    return (row.get(column) or "").strip()


def _import_row(
    session: Session, row: dict[str, str], report: ImportReport, allow_internal: bool
) -> None:
    # Everything is checked before anything is written, so a refusal leaves no trace.
    name, level = _cell(row, "name"), _cell(row, "level")
    phone = service.normalise_phone(_cell(row, "phone")) if _cell(row, "phone") else None
    tier_text = _cell(row, "tier") or "1"
    if not tier_text.isdecimal():
        raise BadRequest(f"tier {tier_text!r} is not a whole number")
    tier = service.check_tier(int(tier_text))
    section_code = _cell(row, "section")
    section = get_section(session, section_code, with_details=False) if section_code else None
    given_url = _cell(row, "webhook_url")
    url = service.check_url(given_url, allow_internal=allow_internal) if given_url else None

    contact = service.find_contact(session, name, phone)
    if contact is None:
        contact = service.create_contact(session, name=name, level=level, phone=phone)
        report.contacts_created += 1
    elif contact.level != level:
        raise BadRequest(
            f"contact {contact.id} ({contact.name}) is {contact.level!r}, not {level!r}; "
            "change a level through the API or CLI, not the import"
        )
    if section is not None:
        current = session.get(SectionContact, (section.id, contact.id))
        if current is None or current.tier != tier:
            service.assign(session, section.code, contact.id, tier)
            if current is None:
                report.assignments_created += 1
            else:
                report.assignments_updated += 1
    if url is not None and all(e.url != url for e in contact.endpoints):
        endpoint, secret = service.add_webhook(
            session, contact.id, url, allow_internal=allow_internal
        )
        report.webhooks.append(NewWebhook(contact.id, contact.name, endpoint.url, secret))
