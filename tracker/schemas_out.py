"""Response models of the JSON API: what it answers, field for field (the OpenAPI document's
response schemas are generated from these).

Built from ORM rows with ``from_attributes``; values the API never shows in clear (the body of an
SMS, a recipient's full number) are not fields here at all.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tracker.models import FieldOffice, FieldOfficeLiaison
from tracker.rules import Flag, RequestFacts
from tracker.vocab import (
    ContactRole,
    CustodyEventKind,
    CustodyStatus,
    FacilityKind,
    FlagKind,
    MessageDirection,
    NotificationStatus,
    RequestKind,
    RequestStatus,
    StayForum,
)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class FlagOut(_Out):
    """A flag from the deadline rules: what is due, when, and at which rung of the ladder."""

    kind: FlagKind
    due_at: datetime
    rung: int | None = Field(description="hours of the alert-ladder rung reached, if any")
    request_id: uuid.UUID | None

    @classmethod
    def of(cls, flag: Flag) -> FlagOut:
        return cls(kind=flag.kind, due_at=flag.due_at, rung=flag.rung, request_id=flag.request_id)


class StayOut(BaseModel):
    """The granted stay that protects the person now: who granted it and until when."""

    request_id: uuid.UUID
    forum: StayForum
    temporary: bool
    expires_at: datetime | None = Field(description="null: no end date")

    @classmethod
    def of(cls, stay: RequestFacts | None) -> StayOut | None:
        if stay is None:
            return None
        return cls(
            request_id=stay.id,
            forum=stay.forum,
            temporary=stay.temporary,
            expires_at=stay.stay_expires_at,
        )


class CaseOut(_Out):
    id: uuid.UUID
    given_name: str
    family_name: str | None
    a_number: str | None = Field(description="9 digits, zero-padded")
    country_of_birth: str | None
    preferred_language: str | None
    race: str | None
    ethnicity: str | None
    custody_status: CustodyStatus
    facility_id: uuid.UUID | None
    field_office_id: uuid.UUID | None
    removal_scheduled_at: datetime | None
    factors: list[str]
    attorney_id: uuid.UUID | None
    closed_at: datetime | None
    flags: list[FlagOut]
    protected_by: StayOut | None = Field(
        default=None, description="the granted, unexpired stay (any forum) that protects now"
    )
    created_at: datetime
    updated_at: datetime


class CaseList(BaseModel):
    items: list[CaseOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at end")


class ContactOut(_Out):
    id: uuid.UUID
    case_id: uuid.UUID
    role: ContactRole
    name: str | None
    phone: str = Field(description="E.164")
    language: str
    sms_consent: bool
    channel: str = Field(description="preferred channel: sms, whatsapp or voice")
    consented_channels: list[str]
    opted_out: bool
    unreachable: bool
    created_at: datetime
    updated_at: datetime


class RequestOut(_Out):
    id: uuid.UUID
    case_id: uuid.UUID
    kind: RequestKind
    forum: StayForum = Field(description="who the stay is asked of")
    temporary: bool = Field(description="a temporary (administrative) stay, with an expiry")
    appeal_of: uuid.UUID | None = Field(description="the denied request this appeal appeals")
    filed_at: datetime | None
    field_office_id: uuid.UUID | None
    status: RequestStatus
    decided_at: datetime | None
    stay_expires_at: datetime | None
    documentation_received_at: datetime | None
    documentation_language: str | None
    advised_right_to_appeal: bool | None
    notes: str | None
    flags: list[FlagOut]
    created_at: datetime
    updated_at: datetime


class CaseDetail(CaseOut):
    contacts: list[ContactOut]
    requests: list[RequestOut]


class CustodyEventOut(_Out):
    id: uuid.UUID
    case_id: uuid.UUID
    kind: CustodyEventKind
    at: datetime
    facility_id: uuid.UUID | None
    from_facility_id: uuid.UUID | None
    source: str | None
    notes: str | None
    created_at: datetime


class CustodyEventList(BaseModel):
    items: list[CustodyEventOut]


class AlertOut(_Out):
    id: uuid.UUID
    case_id: uuid.UUID
    request_id: uuid.UUID | None
    kind: str
    rung: int | None
    due_at: datetime | None
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_via: str | None
    escalated_at: datetime | None
    resolved_at: datetime | None


class AlertList(BaseModel):
    items: list[AlertOut]


class NotificationOut(_Out):
    id: uuid.UUID
    kind: str
    recipient: str = Field(description="masked, e.g. +1••••••4567")
    contact_id: uuid.UUID | None
    language: str
    channel: str = Field(description="sms, whatsapp or voice: what it went (goes) out on")
    status: NotificationStatus
    attempts: int
    error_code: str | None
    error_message: str | None
    segments: int
    encoding: str
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None


class NotificationList(BaseModel):
    items: list[NotificationOut]


class FieldOfficeOut(_Out):
    id: uuid.UUID
    code: str
    name: str
    time_zone: str
    # The reader's organisation's own PD liaison at this office; other organisations' differ.
    liaison_name: str | None
    liaison_phone: str | None
    liaison_email: str | None

    @classmethod
    def of(cls, office: FieldOffice, liaison: FieldOfficeLiaison | None) -> FieldOfficeOut:
        """The shared office with the reader's organisation's own liaison (or none)."""
        return cls(
            id=office.id,
            code=office.code,
            name=office.name,
            time_zone=office.time_zone,
            liaison_name=liaison.name if liaison else None,
            liaison_phone=liaison.phone if liaison else None,
            liaison_email=liaison.email if liaison else None,
        )


class FieldOfficeList(BaseModel):
    items: list[FieldOfficeOut]


class FacilityOut(_Out):
    id: uuid.UUID
    name: str
    field_office_id: uuid.UUID | None
    time_zone: str
    kind: FacilityKind = Field(description="a staging facility flags its cases removal_likely")
    created_at: datetime


class FacilityList(BaseModel):
    items: list[FacilityOut]


class AuditEntryOut(_Out):
    id: int
    at: datetime
    actor_id: uuid.UUID | None
    actor_label: str
    action: str
    entity: str
    entity_id: str | None
    changes: dict[str, Any] = Field(
        description="{field: [before, after]}; sensitive values redacted"
    )


class AuditList(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: dict[str, str] = Field(description="{field: reason}")


class ErrorOut(BaseModel):
    """The one error shape of the API."""

    error: ErrorDetail


class ShiftOut(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID | None
    name: str
    phone: str = Field(description="masked")
    starts_at: datetime = Field(description="the first occurrence")
    ends_at: datetime
    weekly: bool


class OnCallOut(BaseModel):
    shift_id: uuid.UUID
    name: str
    phone: str = Field(description="masked")
    until: datetime = Field(description="end of the current occurrence")


class ShiftList(BaseModel):
    items: list[ShiftOut]
    on_call_now: list[OnCallOut] = Field(
        description="who escalations go to now; empty: the organisation's on-call number"
    )


class ConversationOut(BaseModel):
    """One conversation of the inbox: a case and one of its contacts."""

    case_id: uuid.UUID
    contact_id: uuid.UUID | None = Field(description="null: the contact was removed")
    first_name: str = Field(description="first name of the person the case is about")
    contact_role: str
    contact_phone: str = Field(description="masked")
    unread: int = Field(description="inbound messages not yet read")
    last_at: datetime
    last_direction: MessageDirection


class InboxList(BaseModel):
    items: list[ConversationOut]
    unread: int = Field(description="unread inbound messages of the organisation")
    next_cursor: str | None = Field(None, description="pass as cursor for the next page")


class ConversationMessageOut(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    contact_id: uuid.UUID | None
    direction: MessageDirection
    channel: str
    body: str
    created_at: datetime
    read_at: datetime | None
    status: str = Field(
        description="in: received; out: the SMS's delivery status "
        "(queued, sending, sent, delivered, failed, suppressed)"
    )
    segments: int | None = Field(None, description="out: SMS segments sent")
    notification_id: uuid.UUID | None
    author_id: uuid.UUID | None


class ConversationMessageList(BaseModel):
    items: list[ConversationMessageOut]
