"""The write paths: each state change, its audit entry and its outbox rows in one transaction.

Services take a ``Session`` (the caller owns the transaction), an ``Actor`` and ``now``;
they never commit. The web, the CLI, the importer and the SMS webhooks all call these.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tracker.vocab import Role


class ServiceError(Exception):
    """Bad input detected by a service: ``fields`` maps a field name to its reason."""

    def __init__(self, message: str, fields: dict[str, str] | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.code = code


class NotFound(ServiceError):
    def __init__(self, entity: str) -> None:
        super().__init__(f"{entity} not found", code="not_found")


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user, or a process (``label`` as 'clock', 'sms', 'cli')."""

    label: str
    organization_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    role: Role | None = None

    @classmethod
    def system(cls, label: str, organization_id: uuid.UUID | None = None) -> Actor:
        return cls(label=label, organization_id=organization_id)
