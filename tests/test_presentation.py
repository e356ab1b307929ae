"""The label tables cover every kind, and the one zone rule falls back in its stated order."""

from __future__ import annotations

import pytest

from notifications import messages
from tracker import presentation
from tracker.models import Case, Facility, FieldOffice, Organization
from tracker.vocab import CustodyStatus, FlagKind, RequestKind

DEFAULT = "America/Denver"


@pytest.mark.parametrize(
    ("table", "enum"),
    [
        (presentation.FLAGS, FlagKind),
        (presentation.FLAG_LABELS, FlagKind),
        (presentation.FLAG_PHRASES, FlagKind),
        (presentation.FLAG_SMS, FlagKind),
        (presentation.REQUEST_KINDS, RequestKind),
        (presentation.REQUEST_KIND_LABELS, RequestKind),
        (presentation.REQUEST_KIND_SHORT, RequestKind),
        (presentation.REQUEST_KIND_SMS, RequestKind),
        (presentation.CUSTODY_SMS, CustodyStatus),
    ],
)
def test_each_label_table_covers_every_member(table: object, enum: type) -> None:
    assert isinstance(table, dict)
    assert set(table) == set(enum)


def test_every_label_is_non_blank() -> None:
    for flag in presentation.FLAGS.values():
        assert flag.title and flag.phrase and flag.sms
    for kind in presentation.REQUEST_KINDS.values():
        assert kind.title and kind.short and kind.sms


def test_sms_labels_are_translated_message_ids() -> None:
    ids = set(messages.all_msgids())
    assert set(presentation.FLAG_SMS.values()) <= ids
    assert set(presentation.REQUEST_KIND_SMS.values()) <= ids
    assert set(presentation.CUSTODY_SMS.values()) <= ids


def test_flag_phrase_of_a_stored_string_and_of_a_retired_kind() -> None:
    assert presentation.flag_phrase("unanswered") == "request unanswered"
    assert presentation.flag_phrase("old_kind_gone") == "old kind gone"


def _case(facility: str | None, office: str | None, org: str | None) -> Case:
    case = Case()
    case.facility = Facility(name="F", time_zone=facility) if facility is not None else None
    case.field_office = FieldOffice(code="X", time_zone=office) if office is not None else None
    case.organization = Organization(name="O", time_zone=org) if org is not None else None  # type: ignore[assignment]
    return case


@pytest.mark.parametrize(
    ("facility", "office", "org", "expected"),
    [
        ("America/Chicago", "America/Phoenix", "America/New_York", "America/Chicago"),
        (None, "America/Phoenix", "America/New_York", "America/Phoenix"),
        ("", "America/Phoenix", "America/New_York", "America/Phoenix"),
        (None, None, "America/Los_Angeles", "America/Los_Angeles"),
        (None, "", "America/Los_Angeles", "America/Los_Angeles"),
        (None, None, "", DEFAULT),
        (None, None, None, DEFAULT),
    ],
)
def test_case_zone_falls_back_facility_office_org_default(
    facility: str | None, office: str | None, org: str | None, expected: str
) -> None:
    assert presentation.case_zone(_case(facility, office, org), DEFAULT) == expected


def test_no_case_means_the_default_zone() -> None:
    assert presentation.case_zone(None, DEFAULT) == DEFAULT


def test_zone_of_without_an_organisation_uses_the_default() -> None:
    # The calendar passes the subscriber's own zone as the default, with no organisation.
    office = FieldOffice(code="X", time_zone="America/Phoenix")
    assert presentation.zone_of(DEFAULT, field_office=office) == "America/Phoenix"
    assert presentation.zone_of(DEFAULT) == DEFAULT
