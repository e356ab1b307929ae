"""The data model (SQLAlchemy 2 typed ORM).

Every time is a UTC ``UTCDateTime``; every id that can appear in a URL is a random UUID.
Names, A-numbers and phone numbers are ``EncryptedText``; their ``*_hash`` twins are blind
indexes (``tracker.crypto``) used for lookups.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Uuid,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from tracker.types import EncryptedText, UTCDateTime, utcnow
from tracker.vocab import (
    ContactRole,
    CustodyEventKind,
    CustodyStatus,
    FacilityKind,
    MessageDirection,
    NotificationStatus,
    RequestKind,
    RequestStatus,
    Role,
    StayForum,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _enum(cls: type[StrEnum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


def _id() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, nullable=False)


def _updated() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)


class Organization(Base):
    """A hotline or legal team; owns cases and users and the alert policy."""

    __tablename__ = "organizations"

    id: Mapped[uuid.UUID] = _id()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    oncall_phone: Mapped[str | None] = mapped_column(EncryptedText())
    alert_ladder_hours: Mapped[list[Any]] = mapped_column(JSON, default=lambda: [72, 24, 6])
    # {request kind: days}; kinds missing here use ``default_unanswered_days``.
    unanswered_days: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    default_unanswered_days: Mapped[int] = mapped_column(Integer, default=14)
    escalation_delay_minutes: Mapped[int] = mapped_column(Integer, default=60)
    # A detained case with no confirmed location this long is flagged ``whereabouts_unknown``.
    # The default is the server's alone, so that rows written as older revisions had them
    # (the migration tests) still insert.
    whereabouts_hours: Mapped[int] = mapped_column(Integer, server_default=text("24"))
    retention_days: Mapped[int] = mapped_column(Integer, default=365)
    # "21:00-08:00", "off", or NULL to use the QUIET_HOURS setting.
    quiet_hours: Mapped[str | None] = mapped_column(String(32))
    time_zone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    # The organisation's own Twilio sender; both NULL: the global TWILIO_* sender, shared with
    # every other organisation without one. Inbound replies to either are routed here.
    sms_from_number: Mapped[str | None] = mapped_column(String(32), unique=True, index=True)
    messaging_service_sid: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    @property
    def own_sender(self) -> str | None:
        """What the outbox sends this organisation's SMS from, when not the shared sender."""
        return self.messaging_service_sid or self.sms_from_number


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = _id()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(EncryptedText())
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role, "user_role"))
    phone: Mapped[str | None] = mapped_column(EncryptedText())
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    language: Mapped[str] = mapped_column(String(35), default="en")
    time_zone: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # sha256 of the secret calendar-feed token; NULL until first requested.
    calendar_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Carried in the session cookie: bumping it (sign-out, password change or reset, role
    # change, deactivation) ends every session of the user at once (tracker.web.sessions).
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Set with a generated one-time password: the next sign-in must choose a new one.
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    # When the one-time password was first used: it never signs in a second time.
    one_time_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    organization: Mapped[Organization] = relationship(lazy="joined")


class ApiToken(Base):
    """A bearer token; only its sha256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="joined")


class LoginFailure(Base):
    """Failed logins, for throttling; old rows are pruned."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # sha256 of the folded e-mail or of the client address.
    key_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = _created()

    __table_args__ = (Index("ix_login_failures_key_at", "key_hash", "at"),)


class FieldOffice(Base):
    """An ICE ERO field office (Area of Responsibility): shared reference data."""

    __tablename__ = "field_offices"

    id: Mapped[uuid.UUID] = _id()
    code: Mapped[str] = mapped_column(String(8), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64))


class OnCallShift(Base):
    """A person on call for an organisation from ``starts_at`` to ``ends_at``, repeating
    weekly in the organisation's zone when ``weekly`` (the rule: ``tracker.oncall``).

    The person is a user of the organisation (``user_id``: their phone and language are read
    at send time) or someone named with a phone (``name``, ``phone``, encrypted).
    """

    __tablename__ = "on_call_shifts"

    id: Mapped[uuid.UUID] = _id()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str | None] = mapped_column(EncryptedText())
    phone: Mapped[str | None] = mapped_column(EncryptedText())
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    weekly: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _created()

    user: Mapped[User | None] = relationship(lazy="joined")


class FieldOfficeLiaison(Base):
    """An organisation's own PD liaison at a field office, named in its escalation SMS.

    Per organisation, not on the shared ``FieldOffice`` row, so that no organisation can
    change the number another organisation's SMS and pages point to. The phone is the
    official's work line, stored in clear like the rest of the reference data.
    """

    __tablename__ = "field_office_liaisons"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    field_office_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("field_offices.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(320))
    updated_at: Mapped[datetime] = _updated()


class Facility(Base):
    """A detention facility; its IANA time zone is the one deadlines are shown in."""

    __tablename__ = "facilities"

    id: Mapped[uuid.UUID] = _id()
    name: Mapped[str] = mapped_column(String(200))
    field_office_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("field_offices.id"), index=True
    )
    time_zone: Mapped[str] = mapped_column(String(64))
    kind: Mapped[FacilityKind] = mapped_column(
        _enum(FacilityKind, "facility_kind"),
        default=FacilityKind.detention,
        server_default=FacilityKind.detention.value,
    )
    created_at: Mapped[datetime] = _created()

    field_office: Mapped[FieldOffice | None] = relationship(lazy="joined")

    __table_args__ = (
        # The staging sweep starts from the few staging facilities, then their cases
        # (``ix_cases_facility_id``).
        Index(
            "ix_facilities_staging",
            "id",
            postgresql_where=text("kind = 'staging'"),
            sqlite_where=text("kind = 'staging'"),
        ),
    )


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[uuid.UUID] = _id()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    given_name: Mapped[str] = mapped_column(EncryptedText())
    family_name: Mapped[str | None] = mapped_column(EncryptedText())
    a_number: Mapped[str | None] = mapped_column(EncryptedText())
    a_number_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    country_of_birth: Mapped[str | None] = mapped_column(String(2))
    preferred_language: Mapped[str | None] = mapped_column(String(35))
    race: Mapped[str | None] = mapped_column(String(64))
    ethnicity: Mapped[str | None] = mapped_column(String(64))
    custody_status: Mapped[CustodyStatus] = mapped_column(
        _enum(CustodyStatus, "custody_status"), default=CustodyStatus.detained
    )
    facility_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("facilities.id"), index=True)
    # When the person was last placed at ``facility_id`` (NULL: since the case was opened).
    facility_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Since when nobody has confirmed where the person is held (NULL: ``facility_id`` is
    # confirmed): set at intake with no facility and by a ``whereabouts_unknown`` custody event,
    # cleared by ``located`` / ``transferred`` or by entering a facility.
    location_unknown_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    field_office_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("field_offices.id"), index=True
    )
    removal_scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attorney_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    factors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    organization: Mapped[Organization] = relationship(lazy="joined")
    facility: Mapped[Facility | None] = relationship(lazy="joined")
    field_office: Mapped[FieldOffice | None] = relationship(lazy="joined")
    attorney: Mapped[User | None] = relationship(foreign_keys=[attorney_id])
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Contact.created_at"
    )
    requests: Mapped[list[Request]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Request.created_at"
    )

    __table_args__ = (
        # The removal sweep: open cases by removal time.
        Index(
            "ix_cases_removal_open",
            "removal_scheduled_at",
            postgresql_where=text("closed_at IS NULL AND removal_scheduled_at IS NOT NULL"),
            sqlite_where=text("closed_at IS NULL AND removal_scheduled_at IS NOT NULL"),
        ),
        Index("ix_cases_org_closed", "organization_id", "closed_at"),
        # The whereabouts sweep: the few open cases whose location is unknown, by since when.
        Index(
            "ix_cases_location_unknown",
            "location_unknown_since",
            postgresql_where=text("closed_at IS NULL AND location_unknown_since IS NOT NULL"),
            sqlite_where=text("closed_at IS NULL AND location_unknown_since IS NOT NULL"),
        ),
        # The API's urgency queue: an organisation's open cases with a removal date, by date
        # (``flag=removal_imminent`` reads a few hundred rows instead of the whole org).
        Index(
            "ix_cases_org_removal_open",
            "organization_id",
            "removal_scheduled_at",
            "created_at",
            "id",
            postgresql_where=text("closed_at IS NULL AND removal_scheduled_at IS NOT NULL"),
            sqlite_where=text("closed_at IS NULL AND removal_scheduled_at IS NOT NULL"),
        ),
    )


class CaseNameToken(Base):
    """Blind index of each whole word of a case's names, for search by name."""

    __tablename__ = "case_name_tokens"

    case_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    token: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_case_name_tokens_token", "token"),)


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[uuid.UUID] = _id()
    case_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[ContactRole] = mapped_column(_enum(ContactRole, "contact_role"))
    name: Mapped[str | None] = mapped_column(EncryptedText())
    phone: Mapped[str] = mapped_column(EncryptedText())
    phone_hash: Mapped[str] = mapped_column(String(64), index=True)
    language: Mapped[str] = mapped_column(String(35), default="en")
    # Kept for old clients: true exactly when "sms" is in ``consented_channels``.
    sms_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    # The preferred channel (``tracker.vocab.Channel``) and those the family agreed to.
    channel: Mapped[str] = mapped_column(String(16), default="sms", server_default="sms")
    consented_channels: Mapped[list[Any]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    # When the contact last wrote to us (SMS or WhatsApp): WhatsApp's 24-hour window.
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    unreachable_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the first-contact introduction ("… Reply STOP to stop") was queued.
    introduced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    case: Mapped[Case] = relationship(back_populates="contacts")


class Request(Base):
    __tablename__ = "requests"

    id: Mapped[uuid.UUID] = _id()
    case_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[RequestKind] = mapped_column(_enum(RequestKind, "request_kind"))
    appeal_of_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), index=True
    )
    filed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    field_office_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("field_offices.id"), index=True
    )
    status: Mapped[RequestStatus] = mapped_column(
        _enum(RequestStatus, "request_status"), default=RequestStatus.draft
    )
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    stay_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Who the stay is asked of; rows from before forums existed were all ICE (I-246).
    forum: Mapped[StayForum] = mapped_column(
        _enum(StayForum, "stay_forum"), default=StayForum.ice, server_default=StayForum.ice.value
    )
    # A temporary (administrative) stay pending a decision: granted with an expiry.
    temporary: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    documentation_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    documentation_language: Mapped[str | None] = mapped_column(String(35))
    advised_right_to_appeal: Mapped[bool | None] = mapped_column(Boolean)
    notes: Mapped[str | None] = mapped_column(EncryptedText())
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    case: Mapped[Case] = relationship(back_populates="requests")
    field_office: Mapped[FieldOffice | None] = relationship(lazy="joined")
    appeal_of: Mapped[Request | None] = relationship(remote_side="Request.id")

    __table_args__ = (
        # Documentation-window sweep: decided, documentation not yet received.
        Index(
            "ix_requests_documentation_pending",
            "decided_at",
            postgresql_where=text("decided_at IS NOT NULL AND documentation_received_at IS NULL"),
            sqlite_where=text("decided_at IS NOT NULL AND documentation_received_at IS NULL"),
        ),
        # Unanswered sweep: filed and not decided.
        Index(
            "ix_requests_filed_pending",
            "filed_at",
            postgresql_where=text("status = 'filed'"),
            sqlite_where=text("status = 'filed'"),
        ),
        # Stay-expiry sweep.
        Index(
            "ix_requests_stay_expiry",
            "stay_expires_at",
            postgresql_where=text("status = 'granted' AND stay_expires_at IS NOT NULL"),
            sqlite_where=text("status = 'granted' AND stay_expires_at IS NOT NULL"),
        ),
    )


class CustodyEvent(Base):
    """What was learned about where the person is, and when it happened (``at``), not when it
    was typed (``created_at``)."""

    __tablename__ = "custody_events"

    id: Mapped[uuid.UUID] = _id()
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[CustodyEventKind] = mapped_column(_enum(CustodyEventKind, "custody_event_kind"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    facility_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("facilities.id"))
    from_facility_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("facilities.id"))
    source: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(EncryptedText())
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()

    facility: Mapped[Facility | None] = relationship(foreign_keys=[facility_id], lazy="joined")
    from_facility: Mapped[Facility | None] = relationship(
        foreign_keys=[from_facility_id], lazy="joined"
    )

    __table_args__ = (Index("ix_custody_events_case_at", "case_id", "at"),)


class Alert(Base):
    """One rung of one flag, raised once. ``dedupe_key`` makes raising idempotent.

    The key includes the due time, so moving a removal to a new date re-arms the ladder.
    """

    __tablename__ = "alerts"

    id: Mapped[uuid.UUID] = _id()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    rung: Mapped[int | None] = mapped_column(Integer)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    raised_at: Mapped[datetime] = _created()
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    acknowledged_via: Mapped[str | None] = mapped_column(String(16))
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution: Mapped[str | None] = mapped_column(String(64))

    case: Mapped[Case] = relationship()
    request: Mapped[Request | None] = relationship()

    __table_args__ = (
        # The escalation sweep: open, unacknowledged, not yet escalated, by age.
        Index(
            "ix_alerts_escalation_pending",
            "raised_at",
            postgresql_where=text(
                "acknowledged_at IS NULL AND escalated_at IS NULL AND resolved_at IS NULL"
            ),
            sqlite_where=text(
                "acknowledged_at IS NULL AND escalated_at IS NULL AND resolved_at IS NULL"
            ),
        ),
    )


class Notification(Base):
    """The outbox: one SMS to one recipient. Written in the transaction that caused it."""

    __tablename__ = "notifications"

    id: Mapped[uuid.UUID] = _id()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    alert_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    to_phone: Mapped[str] = mapped_column(EncryptedText())
    # Blind index of ``to_phone``: routes an inbound reply to the organisation that last
    # texted that number. NULL on rows older than migration 0006 that could not be decrypted.
    to_phone_hash: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(35), default="en")
    kind: Mapped[str] = mapped_column(String(48))
    body: Mapped[str] = mapped_column(EncryptedText())
    # The channel the row goes (went) out on: sms, whatsapp or voice (issue 13).
    channel: Mapped[str] = mapped_column(String(16), default="sms", server_default="sms")
    # WhatsApp outside the 24-hour window: the approved Content template and its variables
    # (JSON; encrypted, it may hold a first name).
    content_sid: Mapped[str | None] = mapped_column(String(64))
    content_variables: Mapped[str | None] = mapped_column(EncryptedText())
    # The template parameters (JSON, encrypted): a fallback re-renders the row for another channel.
    params: Mapped[str | None] = mapped_column(EncryptedText())
    segments: Mapped[int] = mapped_column(Integer, default=1)
    encoding: Mapped[str] = mapped_column(String(8), default="GSM-7")
    # Urgent messages (counsel alerts) ignore quiet hours.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[NotificationStatus] = mapped_column(
        _enum(NotificationStatus, "notification_status"), default=NotificationStatus.queued
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sender: Mapped[str | None] = mapped_column(String(64))
    provider_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        # The dispatcher's claim: due rows that are queued or whose lease ran out.
        Index(
            "ix_notifications_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('queued', 'sending')"),
            sqlite_where=text("status IN ('queued', 'sending')"),
        ),
        Index("ix_notifications_org_status", "organization_id", "status"),
        Index("ix_notifications_to_phone_created", "to_phone_hash", "created_at"),
    )


class InboundMessage(Base):
    """Each inbound message handled, by the provider's id: a retried or replayed delivery of
    the same id changes nothing. No body is kept; the sender only as a blind index."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider_sid: Mapped[str] = mapped_column(String(64), unique=True)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    received_at: Mapped[datetime] = _created()
    from_hash: Mapped[str | None] = mapped_column(String(64))
    # What was done (``inbound.Reply.action``): stop, ack, forwarded, …
    action: Mapped[str] = mapped_column(String(16), default="received")


class ConversationMessage(Base):
    """One text of a two-way conversation with a case's contact (issue 15): a free-text SMS
    from them (``in``) or a reply from the app (``out``, sent through ``notification_id``,
    whose row carries the delivery status). The text is encrypted like notes."""

    __tablename__ = "conversation_messages"

    id: Mapped[uuid.UUID] = _id()
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    # Kept when the contact is removed: the conversation stays part of the case's record.
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    direction: Mapped[MessageDirection] = mapped_column(
        _enum(MessageDirection, "message_direction")
    )
    # How it travelled: "sms" or "whatsapp" (a reply takes the channel the outbox chose).
    channel: Mapped[str] = mapped_column(String(16), default="sms", server_default="sms")
    body: Mapped[str] = mapped_column(EncryptedText())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notification_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL"), index=True
    )
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()

    __table_args__ = (
        Index("ix_conversation_messages_case_created", "case_id", "created_at"),
        Index("ix_conversation_messages_org_created", "organization_id", "created_at"),
        # The navigation's unread count on every page: only the unread inbound rows.
        Index(
            "ix_conversation_messages_unread",
            "organization_id",
            postgresql_where=text("direction = 'in' AND read_at IS NULL"),
            sqlite_where=text("direction = 'in' AND read_at IS NULL"),
        ),
    )


class TimelineEvent(Base):
    """A case's history, shown on the case page. Summaries carry no A-number."""

    __tablename__ = "timeline_events"

    id: Mapped[uuid.UUID] = _id()
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    at: Mapped[datetime] = _created()
    kind: Mapped[str] = mapped_column(String(48))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    summary: Mapped[str] = mapped_column(EncryptedText())
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_timeline_events_case_at", "case_id", "at"),)


class AuditEntry(Base):
    """Append-only: who read or changed what. Sensitive values are recorded as redacted."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = _created()

    __table_args__ = (Index("ix_audit_entries_entity", "entity", "entity_id"),)


class Heartbeat(Base):
    """Liveness of a background process (the clock, each worker)."""

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    interval_seconds: Mapped[float] = mapped_column(default=15.0)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class KeyCanary(Base):
    """A known value encrypted with ``DATA_KEYS``: whether the configured keys open this data.

    Written by ``amparo migrate`` (``tracker.canary``); read by ``amparo doctor`` and
    ``amparo restore``. Rotation re-encrypts it with everything else.
    """

    __tablename__ = "key_canary"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[str] = mapped_column(EncryptedText())
    created_at: Mapped[datetime] = _created()


__all__ = [
    "Alert",
    "ApiToken",
    "AuditEntry",
    "Base",
    "Case",
    "CaseNameToken",
    "Contact",
    "ConversationMessage",
    "CustodyEvent",
    "Facility",
    "FieldOffice",
    "FieldOfficeLiaison",
    "Heartbeat",
    "InboundMessage",
    "KeyCanary",
    "LoginFailure",
    "Notification",
    "Organization",
    "Request",
    "TimelineEvent",
    "User",
]
