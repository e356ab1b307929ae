"""Input models shared by the API, the HTML forms and the CSV importer.

Pydantic v2 validates and normalises (A-numbers, E.164 phones, BCP 47 tags, ISO countries,
aware datetimes); the same models generate the OpenAPI document.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from tracker import validators
from tracker.i18n import N_
from tracker.vocab import (
    ETHNICITIES,
    FACTORS,
    RACES,
    Channel,
    ContactRole,
    CustodyEventKind,
    CustodyStatus,
    FacilityKind,
    RequestKind,
    RequestStatus,
    Role,
    StayForum,
)


def _run(fn: object) -> AfterValidator:
    return AfterValidator(fn)  # type: ignore[arg-type]


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    _run(validators.visible_name),
]
ANumber = Annotated[str, _run(validators.a_number)]
Phone = Annotated[str, _run(validators.phone)]
Language = Annotated[str, _run(validators.language)]
Country = Annotated[str, _run(validators.country)]
TimeZone = Annotated[str, _run(validators.time_zone)]
Notes = Annotated[str, StringConstraints(max_length=10_000)]
Moment = Annotated[AwareDatetime, _run(validators.plausible_time)]


class _In(BaseModel):
    # hide_input_in_errors: a ValidationError that reaches a log or traceback names the field
    # and the reason, never the typed value (a name, an A-number).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)


def _check_factors(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    unknown = sorted(set(value) - set(FACTORS))
    if unknown:
        raise ValueError(N_("unknown factor(s): {codes}").format(codes=", ".join(unknown)))
    return sorted(set(value))


def _in_vocab(vocab: dict[str, str], what: str) -> AfterValidator:
    def check(value: str | None) -> str | None:
        if value is not None and value not in vocab:
            raise ValueError(
                N_("not a {what} code; one of: {codes}").format(what=what, codes=", ".join(vocab))
            )
        return value

    return AfterValidator(check)


class CaseFields(_In):
    family_name: Name | None = None
    a_number: ANumber | None = None
    country_of_birth: Country | None = None
    preferred_language: Language | None = None
    race: Annotated[str | None, _in_vocab(RACES, "race")] = None
    ethnicity: Annotated[str | None, _in_vocab(ETHNICITIES, "ethnicity")] = None
    custody_status: CustodyStatus = CustodyStatus.detained
    facility_id: uuid.UUID | None = None
    field_office_id: uuid.UUID | None = None
    removal_scheduled_at: Moment | None = None
    factors: Annotated[list[str], _run(_check_factors)] = Field(default_factory=list)
    attorney_id: uuid.UUID | None = None


class CaseCreate(CaseFields):
    given_name: Name


class CaseUpdate(CaseFields):
    """PATCH: only the fields sent are changed (``model_fields_set``)."""

    given_name: Name | None = None
    custody_status: CustodyStatus | None = None  # type: ignore[assignment]
    factors: Annotated[list[str] | None, _run(_check_factors)] = None  # type: ignore[assignment]
    closed: bool | None = None


def _distinct_channels(value: list[Channel] | None) -> list[Channel] | None:
    return None if value is None else list(dict.fromkeys(value))


Channels = Annotated[list[Channel], _run(_distinct_channels)]


class ContactCreate(_In):
    role: ContactRole
    name: Name | None = None
    phone: Phone
    language: Language = "en"
    # Old clients send only ``sms_consent``; it stays true exactly when "sms" is consented
    # (``tracker.services.contacts.resolve_channels`` reconciles the two).
    sms_consent: bool = False
    channel: Channel | None = Field(
        default=None, description="preferred channel; default sms, or the first consented one"
    )
    consented_channels: Channels | None = Field(
        default=None, description="channels the family agreed to; sms_consent mirrors 'sms'"
    )


class ContactUpdate(_In):
    role: ContactRole | None = None
    name: Name | None = None
    phone: Phone | None = None
    language: Language | None = None
    sms_consent: bool | None = None
    channel: Channel | None = None
    consented_channels: Channels | None = None


class RequestCreate(_In):
    kind: RequestKind
    forum: StayForum = StayForum.ice
    filed_at: Moment | None = None
    field_office_id: uuid.UUID | None = None
    status: Literal[RequestStatus.draft, RequestStatus.filed] | None = None
    notes: Notes | None = None


class RequestUpdate(_In):
    forum: StayForum | None = None
    filed_at: Moment | None = None
    field_office_id: uuid.UUID | None = None
    status: Literal[RequestStatus.draft, RequestStatus.filed, RequestStatus.withdrawn] | None = None
    notes: Notes | None = None


class DeterminationIn(_In):
    outcome: Literal["granted", "denied"]
    decided_at: Moment
    stay_expires_at: Moment | None = None
    # A temporary (administrative) stay pending the decision; it needs ``stay_expires_at``.
    temporary: bool = False


class DocumentationIn(_In):
    received_at: Moment
    language: Language
    advised_right_to_appeal: bool


class AppealIn(_In):
    filed_at: Moment | None = None
    notes: Notes | None = None


class CustodyEventIn(_In):
    kind: CustodyEventKind
    at: Moment = Field(description="when it happened, not when it was typed")
    facility_id: uuid.UUID | None = None
    source: Annotated[str, StringConstraints(max_length=200)] | None = None
    notes: Notes | None = None


class FacilityCreate(_In):
    name: Name
    field_office_id: uuid.UUID | None = None
    time_zone: TimeZone
    kind: FacilityKind = FacilityKind.detention


class UserCreate(_In):
    email: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=320)]
    role: Role
    phone: Phone | None = None
    name: Name | None = None
    language: Language = "en"

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        local, _, domain = value.partition("@")
        if not local or "." not in domain or " " in value:
            raise ValueError(N_("not an e-mail address"))
        return value


def not_after(value: datetime | None, now: datetime, what: str) -> None:
    """Raise when a recorded event is in the future (a typo, usually a wrong year)."""
    if value is not None and value > now:
        raise ValueError(N_("{what} is in the future").format(what=what))


MobilePhone = Annotated[str, _run(validators.mobile_phone)]


class ShiftCreate(_In):
    """An on-call shift: a user of the organisation, or a name and a mobile phone."""

    user_id: uuid.UUID | None = None
    name: Name | None = None
    phone: MobilePhone | None = None
    starts_at: Moment
    ends_at: Moment
    weekly: bool = Field(False, description="repeat every week at the same local times")


class ReplyIn(_In):
    """A reply from the app to a contact of the case (issue 15)."""

    contact_id: uuid.UUID
    # Bounded here only so that no request body is unbounded; the reply's own limits (1,600
    # characters, 10 SMS segments) are checked by ``services.conversations`` with reasons.
    body: Annotated[str, StringConstraints(max_length=10_000)] = Field(
        description="the text, at most 1,600 characters and 10 SMS segments"
    )
