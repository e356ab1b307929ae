"""Bulk import of cases from a CSV file (the command line and the upload page share it), and of
custody events (``amparo import custody``: the lists a hotline receives).

Every row is validated with the same pydantic models as the API (``tracker.schemas``) and
written through the services (``tracker.services``: audit, timeline and alerts in the same
transaction). The whole file is one transaction: nothing is written unless every row is valid,
or, with ``skip_invalid``, every valid row is written and each bad one is reported.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first case row 2.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from tracker import crypto, rules, validators
from tracker.facts import policy_for
from tracker.i18n import N_
from tracker.models import (
    AuditEntry,
    Case,
    CaseNameToken,
    Contact,
    Facility,
    FieldOffice,
    Organization,
    TimelineEvent,
    User,
)
from tracker.presentation import zone_of
from tracker.schemas import CaseCreate, ContactCreate, CustodyEventIn, FacilityCreate
from tracker.services import Actor, ServiceError, audit
from tracker.services import alerts as alert_service
from tracker.services import cases as case_service
from tracker.services import contacts as contact_service
from tracker.services import custody as custody_service
from tracker.services.facilities import create_facility, may_create
from tracker.vocab import ContactRole, CustodyEventKind

# The documented columns (README, "Importing cases"). Only given_name is required.
# The help texts are marked for the web catalog: the import page shows them translated.
COLUMNS: Mapping[str, str] = {
    "given_name": N_("first name(s) (required)"),
    "family_name": N_("family name(s)"),
    "a_number": N_("A-number, 8 or 9 digits, any separators (A-123-456-789)"),
    "country_of_birth": N_("ISO 3166 alpha-2 code (MX, GT, HT…)"),
    "preferred_language": N_("BCP 47 tag (es, ht, pt-BR…)"),
    "field_office_code": N_("ICE ERO field office code (ATL, HOU…)"),
    "facility": N_(
        "detention facility name; a new one is created (in the field office's zone) only "
        "when an admin imports"
    ),
    "removal_scheduled_at": N_("ISO 8601; without an offset, read in the facility's time zone"),
    "family_phone": N_("family member's phone (US numbers without +1 are fine)"),
    "family_language": N_("the family's language for SMS (default: preferred_language, else en)"),
    "family_sms_consent": N_("yes/no: the family agreed to receive SMS (default no)"),
    "family_channel": N_("preferred channel: sms (default), whatsapp or voice"),
    "family_consented_channels": N_(
        "channels the family agreed to, separated by spaces or ';' (sms whatsapp voice); "
        "sms here is the same as family_sms_consent=yes"
    ),
    "counsel_phone": N_("counsel's phone"),
    "counsel_name": N_("counsel's name"),
    "attorney_email": N_("e-mail of the attorney user in your organisation assigned to the case"),
    "race": N_("self-reported race code (see tracker/vocab.py) or prefer_not_to_say"),
    "ethnicity": N_("self-reported ethnicity code or prefer_not_to_say"),
    "custody_status": N_("detained (default), released, removed or unknown"),
}
REQUIRED = ("given_name",)
# The model field a column feeds, where the names differ (for error messages).
_CASE_FIELD_COLUMN = {
    "facility_id": "facility",
    "field_office_id": "field_office_code",
    "attorney_id": "attorney_email",
}
# The case fields a column feeds as written; the others need a lookup or a time zone.
_PLAIN_CASE_COLUMNS = tuple(
    name
    for name in case_service.AUDITED_FIELDS
    if name in COLUMNS and name != "removal_scheduled_at"
)
_YES = {"yes", "y", "true", "1", "si", "sí", "oui", "wi"}
_NO = {"no", "n", "false", "0", "non"}
MAX_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True, order=True)
class RowError:
    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.reason}"


@dataclass
class ParsedRow:
    row: int
    case: CaseCreate
    facility_name: str | None = None
    family: ContactCreate | None = None
    counsel: ContactCreate | None = None
    case_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    contacts: int = 0
    facilities_created: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False
    skip_invalid: bool = False
    families_without_consent: int = 0
    alerted: int = 0

    @property
    def valid(self) -> int:
        return self.rows - len({e.row for e in self.errors if e.row > 1})

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if self.dry_run:
            head = f"dry run: {self.valid} of {self.rows} rows valid; nothing written"
        elif self.imported:
            head = f"imported {self.imported} of {self.rows} cases ({self.contacts} contacts)"
        else:
            head = f"nothing imported: {len(self.errors)} error(s) in {self.rows} rows"
        extra = []
        if self.facilities_created:
            extra.append(f"new facilities: {', '.join(self.facilities_created)}")
        if self.families_without_consent:
            extra.append(
                f"{self.families_without_consent} family contact(s) without SMS consent "
                "(family_sms_consent=yes to text them)"
            )
        return "; ".join([head, *extra])


class ImportFailed(Exception):
    """The file as a whole cannot be read (encoding, header)."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


@dataclass
class _Lookups:
    """Reference data loaded once, not per row."""

    org: Organization
    offices: dict[str, FieldOffice]
    facilities: dict[str, Facility]
    attorneys: dict[str, uuid.UUID]
    a_numbers: set[str]  # blind indexes already in the organisation
    # Facilities are shared by every organisation: only an admin's import adds one.
    may_add_facilities: bool = False
    new_facilities: dict[str, tuple[str, uuid.UUID | None]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, org: Organization, may_add_facilities: bool) -> _Lookups:
        offices = {o.code.upper(): o for o in session.scalars(select(FieldOffice))}
        facilities = {f.name.casefold(): f for f in session.scalars(select(Facility))}
        attorneys = {
            email.lower(): uid
            for uid, email in session.execute(
                select(User.id, User.email).where(
                    User.organization_id == org.id, User.active.is_(True)
                )
            )
        }
        hashes = session.scalars(
            select(Case.a_number_hash).where(
                Case.organization_id == org.id, Case.a_number_hash.is_not(None)
            )
        )
        return cls(
            org, offices, facilities, attorneys, {h for h in hashes if h}, may_add_facilities
        )


def _text(source: bytes | str) -> str:
    if isinstance(source, str):
        return source
    try:
        return source.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailed(
            [RowError(1, "file", f"not UTF-8 (byte {exc.start}); save the sheet as CSV UTF-8")]
        ) from exc


def _header_problems(
    reader: csv.DictReader[str], columns: Collection[str], required: Iterable[str]
) -> list[RowError]:
    """What is wrong with a file's header row (unknown, missing and repeated columns); its
    names are stripped in place first, as the rows will be read by them."""
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    problems = [RowError(1, h or "(empty)", "unknown column") for h in header if h not in columns]
    problems += [RowError(1, c, "required column is missing") for c in required if c not in header]
    duplicates = {h for h in header if header.count(h) > 1}
    problems += [RowError(1, h, "column appears twice") for h in sorted(duplicates)]
    return problems


def _flag(value: str) -> bool | None:
    folded = value.strip().casefold()
    if folded in _YES:
        return True
    if folded in _NO:
        return False
    return None


def _reasons(exc: ValidationError) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False, include_input=False):
        name = str(err["loc"][0]) if err["loc"] else "row"
        out.append((name, str(err["msg"]).removeprefix("Value error, ")))
    return out


def _zone(lookups: _Lookups, facility_name: str | None, office: FieldOffice | None) -> str:
    """The zone a row's local times are read in: the zone pages show them in (zone_of)."""
    facility = lookups.facilities.get(facility_name.casefold()) if facility_name else None
    # The organisation's zone is required (NOT NULL), so it is the last word here.
    return zone_of(lookups.org.time_zone, facility=facility, field_office=office)


def _parse_time(raw: str, zone: str) -> datetime:
    text = raw.strip().replace(" ", "T", 1) if "T" not in raw else raw.strip()
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError("not a date and time; use ISO 8601, e.g. 2026-12-01T14:30") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value


def _parse_row(
    number: int, raw: Mapping[str, str], lookups: _Lookups, seen: dict[str, int]
) -> tuple[ParsedRow | None, list[RowError]]:
    cells = {k: v.strip() for k, v in raw.items() if k and v is not None and v.strip()}
    errors: list[RowError] = []

    def bad(column: str, reason: str) -> None:
        errors.append(RowError(number, column, reason))

    case: dict[str, Any] = {name: cells[name] for name in _PLAIN_CASE_COLUMNS if name in cells}
    office: FieldOffice | None = None
    if "field_office_code" in cells:
        office = lookups.offices.get(cells["field_office_code"].upper())
        if office is None:
            bad("field_office_code", "unknown field office code")
        else:
            case["field_office_id"] = office.id
    facility_name = cells.get("facility")
    if facility_name:
        known = lookups.facilities.get(facility_name.casefold())
        if known is not None:
            case["facility_id"] = known.id
            if office is None and known.field_office_id is not None:
                case["field_office_id"] = known.field_office_id
        elif not lookups.may_add_facilities:
            bad("facility", f'unknown facility "{facility_name}" (ask an admin to add it)')
        elif len(facility_name) > 200:
            bad("facility", "at most 200 characters")
    if "removal_scheduled_at" in cells:
        try:
            case["removal_scheduled_at"] = _parse_time(
                cells["removal_scheduled_at"], _zone(lookups, facility_name, office)
            )
        except ValueError as exc:
            bad("removal_scheduled_at", str(exc))
    if "attorney_email" in cells:
        attorney = lookups.attorneys.get(cells["attorney_email"].lower())
        if attorney is None:
            bad("attorney_email", "no active user with that e-mail in your organisation")
        else:
            case["attorney_id"] = attorney
    parsed_case: CaseCreate | None = None
    try:
        parsed_case = CaseCreate.model_validate(case)
    except ValidationError as exc:
        for name, reason in _reasons(exc):
            if name == "given_name" and "given_name" not in cells:
                reason = "required"
            bad(_CASE_FIELD_COLUMN.get(name, name), reason)
    if parsed_case is not None and parsed_case.a_number:
        digest = validators.a_number_hash(parsed_case.a_number)
        if digest in lookups.a_numbers:
            bad("a_number", "a case with this A-number exists in your organisation")
        elif digest in seen:
            bad("a_number", f"the same A-number is on row {seen[digest]}")
        else:
            seen[digest] = number

    family = counsel = None
    consent = False
    if "family_sms_consent" in cells:
        flag = _flag(cells["family_sms_consent"])
        if flag is None:
            bad("family_sms_consent", "yes or no")
        consent = bool(flag)
    reach: dict[str, Any] = {}
    if "family_consented_channels" in cells:
        names = cells["family_consented_channels"].replace(";", " ").replace(",", " ").split()
        unknown = [n for n in names if n.lower() not in ("sms", "whatsapp", "voice")]
        if unknown:
            bad("family_consented_channels", f"unknown {unknown[0]!r}: sms, whatsapp, voice")
        else:
            reach["consented_channels"] = [n.lower() for n in names]
            if "family_sms_consent" not in cells:
                consent = "sms" in reach["consented_channels"]
    if "family_channel" in cells:
        reach["channel"] = cells["family_channel"].strip().lower()
    if "family_phone" in cells:
        language = (
            cells.get("family_language")
            or (parsed_case.preferred_language if parsed_case else None)
            or "en"
        )
        try:
            family = ContactCreate(
                role=ContactRole.family,
                phone=cells["family_phone"],
                language=language,
                sms_consent=consent,
                **reach,
            )
            contact_service.resolve_channels(None, [], family)
        except ValidationError as exc:
            family = None
            for name, reason in _reasons(exc):
                bad(
                    {
                        "phone": "family_phone",
                        "language": "family_language",
                        "channel": "family_channel",
                        "consented_channels": "family_consented_channels",
                    }.get(name, name),
                    reason,
                )
        except ServiceError as exc:
            family = None
            for name, reason in exc.fields.items():
                bad(f"family_{name}", reason)
    elif reach or "family_language" in cells or "family_sms_consent" in cells:
        bad("family_phone", "required when family_language or family_sms_consent is given")
    if "counsel_phone" in cells:
        try:
            counsel = ContactCreate(
                role=ContactRole.counsel,
                phone=cells["counsel_phone"],
                name=cells.get("counsel_name"),
                language="en",
                sms_consent=True,
            )
        except ValidationError as exc:
            for name, reason in _reasons(exc):
                bad({"phone": "counsel_phone", "name": "counsel_name"}.get(name, name), reason)
    if errors or parsed_case is None:
        return None, errors
    if facility_name and "facility_id" not in case:
        lookups.new_facilities.setdefault(
            facility_name.casefold(),
            (facility_name, office.id if office is not None else None),
        )
    return ParsedRow(number, parsed_case, facility_name, family, counsel), []


def parse(
    session: Session,
    org: Organization,
    source: bytes | str,
    *,
    may_add_facilities: bool = False,
) -> tuple[list[ParsedRow], list[RowError], _Lookups, int]:
    """Validate every row; returns the good rows, the errors, the lookups and the row count.

    Unless ``may_add_facilities`` (``facilities.may_create`` of the importing actor), a row
    naming an unknown facility is a row error.
    """
    text = _text(source)
    first_line = text.split("\n", 1)[0]
    # Cells copied from a spreadsheet and pasted (the upload page) arrive tab-separated.
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    problems = _header_problems(reader, COLUMNS, REQUIRED)
    if problems:
        raise ImportFailed(problems)
    lookups = _Lookups.load(session, org, may_add_facilities)
    rows: list[ParsedRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    count = 0
    for raw in reader:
        number = reader.line_num  # physical line: the row number a spreadsheet shows
        if None in raw:
            errors.append(RowError(number, "row", "more cells than columns"))
            count += 1
            continue
        if not any((v or "").strip() for v in raw.values()):
            continue
        count += 1
        parsed, row_errors = _parse_row(number, raw, lookups, seen)
        errors.extend(row_errors)
        if parsed is not None:
            rows.append(parsed)
    return rows, errors, lookups, count


# Flush to the database every so many rows: the ORM's unit of work stays small while the
# whole import remains one transaction.
BATCH = 500


def import_cases(
    session: Session,
    actor: Actor,
    org: Organization,
    source: bytes | str,
    now: datetime,
    *,
    dry_run: bool = False,
    skip_invalid: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Validate and (unless ``dry_run``) write the cases; the caller commits or rolls back.

    Raises ``ImportFailed`` when the file itself is unreadable. When rows are bad and
    ``skip_invalid`` is false, nothing is added to the session.
    """
    if isinstance(source, bytes) and len(source) > MAX_BYTES:
        raise ImportFailed([RowError(1, "file", f"larger than {MAX_BYTES // 2**20} MB")])
    rows, errors, lookups, count = parse(session, org, source, may_add_facilities=may_create(actor))
    report = ImportReport(
        rows=count, errors=sorted(errors), dry_run=dry_run, skip_invalid=skip_invalid
    )
    if dry_run or (errors and not skip_invalid):
        return report
    actor = Actor(actor.label, org.id, actor.user_id, actor.role)
    facilities = _create_facilities(session, actor, lookups, now, report)
    policy = policy_for(org)
    for offset in range(0, len(rows), BATCH):
        batch = rows[offset : offset + BATCH]
        _write_batch(session, actor, batch, facilities, now, report)
        _sync_alerts(session, batch, report, now, policy)
        if progress:
            progress(offset + len(batch), len(rows))
    audit.record(
        session,
        actor,
        "import",
        "case",
        None,
        {
            "rows": [None, count],
            "imported": [None, report.imported],
            "skipped": [None, count - report.imported],
        },
        organization_id=org.id,
        now=now,
    )
    session.flush()
    return report


def _write_batch(
    session: Session,
    actor: Actor,
    batch: list[ParsedRow],
    facilities: dict[str, Facility],
    now: datetime,
    report: ImportReport,
) -> None:
    """The writes of ``cases.create_case`` and ``contacts.add_contact``, a batch at a time.

    Same rows, same audit entries (``audit.diff`` of the same snapshots), same timeline, but
    one multi-row INSERT per table instead of several flushes and a refresh per case.
    ``tests/test_importer.py`` compares the two paths so they cannot drift apart.
    """
    cases: list[dict[str, Any]] = []
    tokens: list[dict[str, Any]] = []
    contacts: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []

    def audit_row(entity: str, entity_id: uuid.UUID, changes: dict[str, Any]) -> None:
        audits.append(
            {
                "organization_id": actor.organization_id,
                "actor_id": actor.user_id,
                "actor_label": actor.label,
                "action": "create",
                "entity": entity,
                "entity_id": str(entity_id),
                "changes": changes,
                "at": now,
            }
        )

    def event(case_id: uuid.UUID, kind: str, summary: str) -> None:
        events.append(
            {
                "id": uuid.uuid4(),
                "case_id": case_id,
                "kind": kind,
                "summary": summary,
                "actor_id": actor.user_id,
                "data": {},
                "at": now,
            }
        )

    for row in batch:
        values = row.case.model_dump()
        if row.facility_name and values["facility_id"] is None:
            facility = facilities[row.facility_name.casefold()]
            values["facility_id"] = facility.id
            if values["field_office_id"] is None:
                values["field_office_id"] = facility.field_office_id
        case_id = row.case_id
        # As create_case: no facility at intake, no confirmed location yet.
        values["location_unknown_since"] = None if values["facility_id"] else now
        case = Case(id=case_id, organization_id=actor.organization_id, **values)
        cases.append(
            {
                "id": case_id,
                "organization_id": actor.organization_id,
                "created_by_id": actor.user_id,
                "created_at": now,
                "updated_at": now,
                "a_number_hash": (
                    validators.a_number_hash(values["a_number"]) if values["a_number"] else None
                ),
                **values,
            }
        )
        tokens.extend(
            {"case_id": case_id, "token": t}
            for t in crypto.name_tokens(values["given_name"], values["family_name"])
        )
        audit_row("case", case_id, audit.diff({}, case_service.snapshot(case)))
        event(case_id, "case_opened", "Case opened")
        for contact in (row.family, row.counsel):
            if contact is None:
                continue
            channel, consented = contact_service.resolve_channels(None, [], contact)
            data = contact.model_dump(exclude={"channel", "consented_channels", "sms_consent"})
            data.update(
                channel=channel, consented_channels=consented, sms_consent="sms" in consented
            )
            contact_id = uuid.uuid4()
            contacts.append(
                {
                    "id": contact_id,
                    "case_id": case_id,
                    "phone_hash": validators.phone_hash(contact.phone),
                    "created_at": now,
                    "updated_at": now,
                    **data,
                }
            )
            snapshot = {name: data.get(name) for name in contact_service.AUDITED_FIELDS}
            audit_row("contact", contact_id, audit.diff({}, snapshot))
            event(case_id, "contact_added", f"{contact.role.value.title()} contact added")
            report.contacts += 1
        report.imported += 1
        if row.family is not None and not row.family.sms_consent:
            report.families_without_consent += 1
    for model, payload in (
        (Case, cases),
        (CaseNameToken, tokens),
        (Contact, contacts),
        (AuditEntry, audits),
        (TimelineEvent, events),
    ):
        if payload:
            # Core executemany: the ORM's bulk path would compile a statement per chunk.
            session.connection().execute(insert(cast(Table, model.__table__)), payload)


def _sync_alerts(
    session: Session,
    batch: list[ParsedRow],
    report: ImportReport,
    now: datetime,
    policy: rules.Policy,
) -> None:
    """Raise the alerts of new cases that already have a flag (a removal within the ladder).

    The rules decide which: a new case has no requests, so only its removal can flag.
    """
    for row in batch:
        facts = rules.CaseFacts(
            id=row.case_id,
            custody_status=row.case.custody_status,
            removal_scheduled_at=row.case.removal_scheduled_at,
        )
        if any(f.alerts for f in rules.evaluate(facts, now, policy)):
            case = session.get(Case, row.case_id)
            if case is not None:
                alert_service.sync_case(session, case, now)
                report.alerted += 1


def _create_facilities(
    session: Session, actor: Actor, lookups: _Lookups, now: datetime, report: ImportReport
) -> dict[str, Facility]:
    made: dict[str, Facility] = {}
    offices = {o.id: o for o in lookups.offices.values()}
    for key, (name, office_id) in sorted(lookups.new_facilities.items()):
        office = offices.get(office_id) if office_id else None
        zone = office.time_zone if office is not None else lookups.org.time_zone
        made[key] = create_facility(
            session,
            actor,
            FacilityCreate(name=name, field_office_id=office_id, time_zone=zone),
            now,
        )
        report.facilities_created.append(name)
    return made


# --- custody events (``amparo import custody``) ------------------------------------------

# The documented columns (README, "Importing custody events"): a case (by A-number, as the case
# import knows cases, or by its id), then the event as the API takes it.
CUSTODY_COLUMNS: Mapping[str, str] = {
    "a_number": "the case's A-number, any separators (or give case_id)",
    "case_id": "the case's id, as the API and the case page show it (or give a_number)",
    "kind": "transferred, located, released, removed or whereabouts_unknown (required)",
    "at": (
        "when it happened (required), ISO 8601; without an offset, read in the case's zone "
        "(its facility's, else its field office's, else the organisation's)"
    ),
    "facility": "facility name: required for transferred, optional for located, else empty",
    "source": "where the news came from (family call, ICE eFile notice, locator…)",
    "notes": "free text",
}
CUSTODY_REQUIRED = ("kind", "at")
# The event field a column feeds, where the names differ (for error messages).
_EVENT_FIELD_COLUMN = {"facility_id": "facility"}


@dataclass
class CustodyImportReport:
    rows: int = 0
    recorded: int = 0
    moved: int = 0
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if self.errors:
            return f"nothing imported: {len(self.errors)} error(s) in {self.rows} rows"
        if self.dry_run:
            return f"dry run: all {self.rows} rows valid; nothing written"
        return f"recorded {self.recorded} custody events ({self.moved} transfers)"


@dataclass(frozen=True)
class _CustodyRow:
    row: int
    case_id: uuid.UUID
    event: CustodyEventIn


def _custody_header(reader: csv.DictReader[str]) -> None:
    problems = _header_problems(reader, CUSTODY_COLUMNS, CUSTODY_REQUIRED)
    header = reader.fieldnames or []
    if "a_number" not in header and "case_id" not in header:
        problems.append(RowError(1, "a_number", "name the case: an a_number or case_id column"))
    if problems:
        raise ImportFailed(problems)


def _custody_case(
    session: Session, org: Organization, cells: Mapping[str, str]
) -> tuple[Case | None, tuple[str, str] | None]:
    """The organisation's case a row names, or (column, reason)."""
    if "case_id" in cells and "a_number" in cells:
        return None, ("case_id", "give a_number or case_id, not both")
    if "case_id" in cells:
        try:
            case_id = uuid.UUID(cells["case_id"])
        except ValueError:
            return None, ("case_id", "not a case id")
        case = session.get(Case, case_id)
        if case is None or case.organization_id != org.id:
            return None, ("case_id", "no such case in this organisation")
        return case, None
    if "a_number" in cells:
        try:
            digits = validators.a_number(cells["a_number"])
        except ValueError as exc:
            return None, ("a_number", str(exc))
        found = list(
            session.scalars(
                select(Case).where(
                    Case.organization_id == org.id,
                    Case.a_number_hash == validators.a_number_hash(digits),
                )
            )
        )
        if len(found) > 1:
            return None, ("a_number", "several cases have this A-number: give case_id")
        if not found:
            return None, ("a_number", "no case in this organisation has this A-number")
        return found[0], None
    return None, ("a_number", "required (or case_id)")


def _parse_custody_row(
    session: Session,
    org: Organization,
    number: int,
    raw: Mapping[str, str],
    facilities: Mapping[str, Facility],
) -> tuple[_CustodyRow | None, list[RowError]]:
    cells = {k: v.strip() for k, v in raw.items() if k and v is not None and v.strip()}
    errors: list[RowError] = []
    case, problem = _custody_case(session, org, cells)
    if problem is not None:
        errors.append(RowError(number, *problem))
    values: dict[str, Any] = {k: cells[k] for k in ("kind", "source", "notes") if k in cells}
    if "facility" in cells:
        known = facilities.get(cells["facility"].casefold())
        if known is None:
            errors.append(RowError(number, "facility", "unknown facility (add it first)"))
        else:
            values["facility_id"] = known.id
    if "at" in cells:
        zone = zone_of(
            org.time_zone,
            facility=case.facility if case is not None else None,
            field_office=case.field_office if case is not None else None,
        )
        try:
            values["at"] = _parse_time(cells["at"], zone)
        except ValueError as exc:
            errors.append(RowError(number, "at", str(exc)))
    try:
        event = CustodyEventIn.model_validate(values)
    except ValidationError as exc:
        reported = {e.column for e in errors}
        for name, reason in _reasons(exc):
            column = _EVENT_FIELD_COLUMN.get(name, name)
            if column not in reported:
                errors.append(RowError(number, column, reason))
        return None, errors
    if errors or case is None:
        return None, errors
    return _CustodyRow(number, case.id, event), []


def import_custody(
    session: Session,
    actor: Actor,
    org: Organization,
    source: bytes | str,
    now: datetime,
    *,
    dry_run: bool = False,
) -> CustodyImportReport:
    """Record the custody events of a CSV, all or nothing, in file order.

    Each row goes through ``services.custody.record_event``, the API's own path (audit,
    timeline, the case's new place, transfer alerts and texts), inside a savepoint: when any row
    is bad, or on a dry run, the savepoint is rolled back and nothing is left in the session.
    Raises ``ImportFailed`` when the file itself is unreadable.
    """
    if isinstance(source, bytes) and len(source) > MAX_BYTES:
        raise ImportFailed([RowError(1, "file", f"larger than {MAX_BYTES // 2**20} MB")])
    reader = csv.DictReader(io.StringIO(_text(source), newline=""))
    _custody_header(reader)
    facilities = {f.name.casefold(): f for f in session.scalars(select(Facility))}
    report = CustodyImportReport(dry_run=dry_run)
    rows: list[_CustodyRow] = []
    for raw in reader:
        number = reader.line_num
        if None in raw:
            report.rows += 1
            report.errors.append(RowError(number, "row", "more cells than columns"))
            continue
        if not any((v or "").strip() for v in raw.values()):
            continue
        report.rows += 1
        parsed, errors = _parse_custody_row(session, org, number, raw, facilities)
        report.errors.extend(errors)
        if parsed is not None:
            rows.append(parsed)
    # The rows that parsed are applied even when others did not, so that one run reports every
    # error (the service's own checks included); the savepoint then undoes them all.
    actor = Actor(actor.label, org.id, actor.user_id, actor.role)
    savepoint = session.begin_nested()
    for row in rows:
        case = session.get(Case, row.case_id)
        assert case is not None  # found while parsing, in this transaction
        try:
            custody_service.record_event(session, actor, case, row.event, now)
        except ServiceError as exc:
            for name, reason in (exc.fields or {"row": exc.message}).items():
                report.errors.append(RowError(row.row, _EVENT_FIELD_COLUMN.get(name, name), reason))
            continue
        report.recorded += 1
        report.moved += row.event.kind is CustodyEventKind.transferred
    if report.errors or dry_run:
        savepoint.rollback()
        report.recorded = report.moved = 0
        report.errors.sort()
        return report
    audit.record(
        session,
        actor,
        "import",
        "custody_event",
        None,
        {"rows": [None, report.rows], "recorded": [None, report.recorded]},
        organization_id=org.id,
        now=now,
    )
    savepoint.commit()
    session.flush()
    return report


def template_csv() -> str:
    """A header line with every column, for the upload page's download link."""
    return ",".join(COLUMNS) + "\n"


def columns_help() -> Iterable[tuple[str, str]]:
    return COLUMNS.items()


__all__ = [
    "COLUMNS",
    "CUSTODY_COLUMNS",
    "CustodyImportReport",
    "ImportFailed",
    "ImportReport",
    "RowError",
    "import_cases",
    "import_custody",
    "parse",
    "template_csv",
]
