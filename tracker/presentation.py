"""How the domain is shown to people: the label of each kind, and the zone a case's times are in.

One table per vocabulary, so that a new enum member without its labels fails the tests
(tests/test_presentation.py) instead of showing a raw key in a page, a digest or an SMS. Core
layer: pages, SMS (notifications), services, jobs, the calendar and the importer all read it, so
it imports only models and vocab, and never reads settings (callers pass the default zone).

The ``sms`` strings are message ids: notifications.messages translates them with the catalogs.
The page labels are marked with ``N_`` for the web catalog (tracker.i18n) and translated where a
page shows them (``_(label)`` in a template, ``i18n.gettext`` in a handler): this module stays
the one place for the English, the catalog holds the other languages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tracker.i18n import N_
from tracker.models import Case, Facility, FieldOffice, Organization
from tracker.vocab import CustodyStatus, FacilityKind, FlagKind, RequestKind, StayForum


@dataclass(frozen=True)
class FlagText:
    title: str  # badges and filters on the pages
    phrase: str  # mid-sentence: alert labels, the morning digest, audit and timeline lines
    sms: str  # message id of the phrase an SMS shows, translated


@dataclass(frozen=True)
class RequestKindText:
    title: str  # pages, timeline and audit lines
    short: str  # calendar event summaries, where space is scarce
    sms: str  # message id, translated


FLAGS: Mapping[FlagKind, FlagText] = {
    FlagKind.removal_imminent: FlagText(
        N_("Removal imminent"), N_("removal imminent"), "removal imminent"
    ),
    FlagKind.documentation_due: FlagText(
        N_("Documentation due"), N_("documentation due"), "documentation due"
    ),
    FlagKind.documentation_overdue: FlagText(
        N_("Documentation overdue"), N_("documentation overdue"), "documentation overdue"
    ),
    FlagKind.unanswered: FlagText(N_("Unanswered"), N_("request unanswered"), "no answer from ICE"),
    FlagKind.stay_expiring: FlagText(N_("Stay expiring"), N_("stay expiring"), "stay expiring"),
    FlagKind.removal_likely: FlagText(
        N_("Removal likely (staging)"), N_("removal likely (staging facility)"), "removal likely"
    ),
    FlagKind.transferred: FlagText(N_("Transferred"), N_("transferred"), "transfer"),
    FlagKind.unreachable: FlagText(
        N_("Family unreachable"), N_("unreachable"), "family unreachable"
    ),
    FlagKind.whereabouts_unknown: FlagText(
        N_("Whereabouts unknown"), N_("whereabouts unknown"), "whereabouts unknown"
    ),
}

REQUEST_KINDS: Mapping[RequestKind, RequestKindText] = {
    RequestKind.stay_of_removal: RequestKindText(N_("Stay of removal"), "stay", "stay of removal"),
    RequestKind.release: RequestKindText(N_("Release"), "release", "release"),
    RequestKind.prosecutorial_discretion: RequestKindText(
        N_("Prosecutorial discretion"), "PD", "prosecutorial discretion"
    ),
    RequestKind.appeal: RequestKindText(N_("Appeal"), "appeal", "appeal"),
}

FACILITY_KIND_LABELS: Mapping[FacilityKind, str] = {
    FacilityKind.detention: N_("Detention"),
    FacilityKind.staging: N_("Staging (pre-removal)"),
    FacilityKind.hospital: N_("Hospital"),
    FacilityKind.other: N_("Other"),
}

CUSTODY_EVENT_LABELS: Mapping[str, str] = {
    "transferred": N_("Transferred"),
    "located": N_("Located"),
    "released": N_("Released"),
    "removed": N_("Removed"),
    "whereabouts_unknown": N_("Whereabouts unknown"),
}

# Who granted a stay: pages, the queue, reports, timeline lines.
STAY_FORUM_LABELS: Mapping[StayForum, str] = {
    StayForum.ice: N_("ICE (I-246)"),
    StayForum.immigration_judge: N_("Immigration judge"),
    StayForum.bia: N_("BIA"),
    StayForum.circuit_court: N_("Circuit court"),
    StayForum.district_court: N_("District court"),
}

# Message ids of a custody status in an SMS status reply, translated.
CUSTODY_SMS: Mapping[str, str] = {
    CustodyStatus.detained: "in detention",
    CustodyStatus.released: "released",
    CustodyStatus.removed: "removed from the U.S.",
    CustodyStatus.unknown: "custody not known",
}

# Why a family message did not go on its preferred channel (``notifications.channels``):
# written in English into the outbox row and the case timeline, translated where shown. A
# list of reasons is joined with "; " (``REASON_AND`` tells the translation how to split it).
REASON_NOT_CONSENTED = N_("{channel}: not consented")
REASON_NO_TEMPLATE = N_(
    "WhatsApp: the 24-hour window is closed and there is no approved template "
    "for {kind} in {language}"
)
REASON_VOICE_KINDS = N_("voice: only decisions, releases and transfers are phoned")
REASON_NO_CHANNEL = N_("no consented channel")
REASON_INSTEAD = N_("{reason}; sent by {channel} instead")
REASON_AND = N_("{reason}; {more}")

# Enum values pages show as words (``humanise`` filter): marked so the catalog has them.
WORDS: tuple[str, ...] = (
    # custody statuses
    N_("detained"),
    N_("released"),
    N_("removed"),
    N_("unknown"),
    # request statuses
    N_("draft"),
    N_("filed"),
    N_("granted"),
    N_("denied"),
    N_("withdrawn"),
    # contact roles
    N_("counsel"),
    N_("family"),
    N_("other"),
    # user roles
    N_("admin"),
    N_("attorney"),
    N_("hotline"),
    N_("coordinator"),
    # outbox statuses
    N_("queued"),
    N_("sending"),
    N_("sent"),
    N_("delivered"),
    N_("undelivered"),
    N_("failed"),
    N_("suppressed"),
    # outbox message kinds (notifications.messages)
    N_("decision denied"),
    N_("decision granted"),
    N_("documentation received"),
    N_("introduction"),
    N_("request filed"),
    N_("status reply"),
    N_("transferred family"),
    N_("ack taken"),
    N_("digest"),
    N_("escalation"),
    N_("removal imminent"),
    N_("removal likely"),
    N_("shift start"),
    N_("stay expiring"),
    N_("transferred"),
    N_("unanswered"),
    N_("documentation overdue"),
    # custody event kinds, mid-sentence
    N_("located"),
    N_("whereabouts unknown"),
    # channels (tracker.vocab.Channel) and the inbox's message kinds
    N_("sms"),
    N_("whatsapp"),
    N_("voice"),
    N_("conversation new"),
    N_("conversation reply"),
    # why an alert was resolved (tracker.services.alerts)
    N_("superseded"),
    N_("cleared"),
)

# The views callers index by kind (StrEnum keys also match the plain strings stored in rows).
FLAG_LABELS: Mapping[str, str] = {k: v.title for k, v in FLAGS.items()}
FLAG_PHRASES: Mapping[str, str] = {k: v.phrase for k, v in FLAGS.items()}
FLAG_SMS: Mapping[str, str] = {k: v.sms for k, v in FLAGS.items()}
REQUEST_KIND_LABELS: Mapping[RequestKind, str] = {k: v.title for k, v in REQUEST_KINDS.items()}
REQUEST_KIND_SHORT: Mapping[RequestKind, str] = {k: v.short for k, v in REQUEST_KINDS.items()}
REQUEST_KIND_SMS: Mapping[str, str] = {k: v.sms for k, v in REQUEST_KINDS.items()}


def humanise(value: object) -> str:
    """A key as words (``documentation_due`` → ``documentation due``): for keys with no label."""
    return str(getattr(value, "value", value)).replace("_", " ")


def flag_phrase(kind: str) -> str:
    """The mid-sentence phrase of an alert kind; an unknown (retired) kind reads as its words."""
    return FLAG_PHRASES.get(kind, humanise(kind))


def zone_of(
    default_zone: str,
    *,
    facility: Facility | None = None,
    field_office: FieldOffice | None = None,
    organization: Organization | None = None,
) -> str:
    """The zone times are shown in: the facility's, else the field office's, else the
    organisation's, else ``default_zone`` (the deployment's setting). Blank zones are skipped.

    The one rule for pages, SMS, the calendar and the importer: a deadline at a detention centre
    reads in the centre's local time wherever the reader is.
    """
    for place in (facility, field_office, organization):
        if place is not None and place.time_zone:
            return place.time_zone
    return default_zone


def case_zone(case: Case | None, default_zone: str) -> str:
    """The zone ``case``'s times are shown in (see ``zone_of``); ``default_zone`` without a case."""
    if case is None:
        return default_zone
    return zone_of(
        default_zone,
        facility=case.facility,
        field_office=case.field_office,
        organization=case.organization,
    )
