"""What a provider's delivery report says: Twilio's status words and error codes, ours.

Status callbacks can arrive twice, late or out of order: a status only ever moves forward
(``delivered``, ``undelivered`` and ``failed`` are final). What a report *does* to a message,
its contact, alerts and timeline is a state change and lives in ``tracker.services.delivery``.
"""

from __future__ import annotations

from tracker.vocab import NotificationStatus

# Twilio's MessageStatus values → ours. Twilio's own queue states mean "the provider has it".
_TWILIO_STATUS = {
    "accepted": NotificationStatus.sent,
    "scheduled": NotificationStatus.sent,
    "queued": NotificationStatus.sent,
    "sending": NotificationStatus.sent,
    "sent": NotificationStatus.sent,
    "delivered": NotificationStatus.delivered,
    "read": NotificationStatus.delivered,
    "undelivered": NotificationStatus.undelivered,
    "failed": NotificationStatus.failed,
    "canceled": NotificationStatus.failed,
    # A call's CallStatus (voice channel): answered counts as delivered; busy and no answer
    # as undelivered, so that two in a row make the contact unreachable like two SMS.
    "initiated": NotificationStatus.sent,
    "ringing": NotificationStatus.sent,
    "in-progress": NotificationStatus.sent,
    "completed": NotificationStatus.delivered,
    "busy": NotificationStatus.undelivered,
    "no-answer": NotificationStatus.undelivered,
}
# What a call outcome means, for the people who follow up.
CALL_OUTCOMES = {
    "busy": "the line was busy",
    "no-answer": "nobody answered the call",
    "failed": "the call could not be placed",
    "canceled": "the call was canceled",
}
RANK = {
    NotificationStatus.queued: 0,
    NotificationStatus.suppressed: 0,
    NotificationStatus.sending: 1,
    NotificationStatus.sent: 2,
    NotificationStatus.delivered: 3,
    NotificationStatus.undelivered: 3,
    NotificationStatus.failed: 3,
}
FINAL = frozenset(
    {NotificationStatus.delivered, NotificationStatus.undelivered, NotificationStatus.failed}
)
# Carrier error codes seen in callbacks, explained for the people who follow up.
ERROR_REASONS = {
    "30003": "handset unreachable (off or out of coverage)",
    "30004": "message blocked by the recipient or carrier",
    "30005": "unknown or inactive number",
    "30006": "landline or unreachable carrier",
    "30007": "filtered by the carrier as spam",
    "30008": "unknown delivery error",
    "21610": "the recipient replied STOP",
}
# The carrier's "this number replied STOP to you": the contact is opted out everywhere.
OPTED_OUT_CODE = "21610"


def map_status(raw: str) -> NotificationStatus | None:
    return _TWILIO_STATUS.get(raw.strip().lower())


def is_forward(current: NotificationStatus, new: NotificationStatus) -> bool:
    """A report may only move a message forward, and never out of a final state."""
    return current not in FINAL and RANK[new] > RANK[current]


def failure_message(status: NotificationStatus, code: str | None, raw: str = "") -> str:
    outcome = CALL_OUTCOMES.get(raw.strip().lower()) if raw else None
    if outcome and not code:
        return f"Twilio reported {status.value} ({outcome})"
    reason = ERROR_REASONS.get(code or "", "")
    return f"Twilio reported {status.value}" + (
        f" (error {code}: {reason})" if code and reason else f" (error {code})" if code else ""
    )
