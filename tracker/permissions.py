"""THE role policy: which roles may do what, one row a permission.

A core module: the API's route table, the pages and the services (who may add shared
reference data) all read the same table.
"""

from __future__ import annotations

from collections.abc import Mapping

from tracker.vocab import Role

ALL_ROLES: frozenset[Role] = frozenset(Role)
ROLES_READ = ALL_ROLES

# THE role policy: one row a permission; the API's route table names one permission per
# operation, so the authorization matrix is generated from the two (README, issue 7).
PERMISSIONS: Mapping[str, frozenset[Role]] = {
    # Every role reads the cases of its organisation.
    "case.read": ALL_ROLES,
    # Intake: the hotline opens cases and adds contacts; coordinators only read.
    "case.create": frozenset({Role.admin, Role.attorney, Role.hotline}),
    "case.update": frozenset({Role.admin, Role.attorney}),
    "contact.write": frozenset({Role.admin, Role.attorney, Role.hotline}),
    # The hotline files requests; decisions, documentation and appeals are counsel's work.
    "request.create": frozenset({Role.admin, Role.attorney, Role.hotline}),
    "request.update": frozenset({Role.admin, Role.attorney}),
    "request.decide": frozenset({Role.admin, Role.attorney}),
    # Where the person is: the hotline hears of transfers first.
    "custody.write": frozenset({Role.admin, Role.attorney, Role.hotline}),
    "alert.read": ALL_ROLES,
    "alert.ack": frozenset({Role.admin, Role.attorney, Role.hotline}),
    "reference.read": ALL_ROLES,
    "reference.write": frozenset({Role.admin}),
    # Every role sees who is on call; admins plan the shifts (issue 15).
    "oncall.read": ALL_ROLES,
    "oncall.write": frozenset({Role.admin}),
    # The two-way inbox (issue 15): everyone reads the organisation's conversations; those
    # who work cases answer them (coordinators only read).
    "conversation.read": ALL_ROLES,
    "conversation.reply": frozenset({Role.admin, Role.attorney, Role.hotline}),
    "audit.read": frozenset({Role.admin, Role.coordinator}),
    "report.read": frozenset({Role.admin, Role.coordinator, Role.attorney}),
    # Each user's own calendar-feed URL.
    "calendar.own": ALL_ROLES,
}
