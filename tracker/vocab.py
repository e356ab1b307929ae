"""The closed vocabularies of the domain (see docs/domain.md)."""

from __future__ import annotations

from enum import StrEnum

from tracker.i18n import N_


class Role(StrEnum):
    admin = "admin"
    attorney = "attorney"
    hotline = "hotline"
    coordinator = "coordinator"


class CustodyStatus(StrEnum):
    detained = "detained"
    released = "released"
    removed = "removed"
    unknown = "unknown"


class ContactRole(StrEnum):
    counsel = "counsel"
    family = "family"
    other = "other"


class Channel(StrEnum):
    """How a contact is reached (issue 13): the preferred one and those consented to."""

    sms = "sms"
    whatsapp = "whatsapp"
    voice = "voice"


class RequestKind(StrEnum):
    stay_of_removal = "stay_of_removal"
    release = "release"
    prosecutorial_discretion = "prosecutorial_discretion"
    appeal = "appeal"


class RequestStatus(StrEnum):
    draft = "draft"
    filed = "filed"
    granted = "granted"
    denied = "denied"
    withdrawn = "withdrawn"


class FacilityKind(StrEnum):
    """A staging facility is where people are held just before removal flights."""

    detention = "detention"
    staging = "staging"
    hospital = "hospital"
    other = "other"


class CustodyEventKind(StrEnum):
    """What was learned about where the person is."""

    transferred = "transferred"  # moved to another facility
    located = "located"  # the current facility confirmed
    released = "released"
    removed = "removed"
    whereabouts_unknown = "whereabouts_unknown"


class StayForum(StrEnum):
    """Who a stay of removal is asked of: ICE (form I-246) or a court."""

    ice = "ice"
    immigration_judge = "immigration_judge"
    bia = "bia"
    circuit_court = "circuit_court"
    district_court = "district_court"


DECIDED_STATUSES = frozenset({RequestStatus.granted, RequestStatus.denied})


class FlagKind(StrEnum):
    removal_imminent = "removal_imminent"
    documentation_due = "documentation_due"
    documentation_overdue = "documentation_overdue"
    unanswered = "unanswered"
    stay_expiring = "stay_expiring"
    removal_likely = "removal_likely"
    # Raised by a custody event (a transfer), not by time: see rules.EVENT_KINDS.
    transferred = "transferred"
    unreachable = "unreachable"
    # Detained with no confirmed location for the organisation's ``whereabouts_hours``.
    whereabouts_unknown = "whereabouts_unknown"


class NotificationStatus(StrEnum):
    queued = "queued"
    sending = "sending"
    sent = "sent"
    delivered = "delivered"
    undelivered = "undelivered"
    failed = "failed"
    suppressed = "suppressed"


PENDING_NOTIFICATION_STATUSES = frozenset({NotificationStatus.queued, NotificationStatus.sending})


# Presumption-of-release factors (docs/domain.md). Each is a plain "yes" when present.
FACTORS: dict[str, str] = {
    "elderly": N_("Elderly"),
    "young": N_("Young (child or youth)"),
    "disability": N_("Physical or mental disability"),
    "illness": N_("Serious illness"),
    "trauma_history": N_("History of trauma"),
    "lgbtq": N_("LGBTQ+"),
    "transgender": N_("Transgender"),
    "pregnant": N_("Pregnant"),
    "caretaker": N_("Caretaker of children or of elderly or infirm relatives"),
    "needs_care": N_("In need of care"),
    "medical_risk": N_("Heightened medical risk (e.g. COVID-19, HIV+)"),
    "family_unit": N_("Family unit or child"),
    "protected_advocacy": N_("First Amendment protected advocacy"),
    "labor_organizing": N_("Labour organising"),
    "court_party_or_witness": N_("Party or witness in a court proceeding"),
    "community_ties": N_("Significant community ties"),
    "fear_based_relief": N_("Seeking fear-based relief"),
    "limited_english": N_("Limited English proficiency"),
}

# Self-reported, optional; "prefer_not_to_say" is an answer, unlike an empty value.
RACES: dict[str, str] = {
    "american_indian_or_alaska_native": "American Indian or Alaska Native",
    "asian": "Asian",
    "black": "Black or African American",
    "native_hawaiian_or_pacific_islander": "Native Hawaiian or Other Pacific Islander",
    "white": "White",
    "multiracial": "More than one race",
    "other": "Other",
    "prefer_not_to_say": "Prefer not to say",
}
ETHNICITIES: dict[str, str] = {
    "hispanic_or_latino": "Hispanic or Latino",
    "not_hispanic_or_latino": "Not Hispanic or Latino",
    "prefer_not_to_say": "Prefer not to say",
}


class MessageDirection(StrEnum):
    """Of a conversation message (issue 15): from the contact, or answered from the app."""

    inbound = "in"
    outbound = "out"
