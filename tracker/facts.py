"""Build the pure inputs of ``tracker.rules`` from loaded ORM rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.orm import Session

from tracker.models import Case, Organization, Request
from tracker.rules import CaseFacts, Policy, RequestFacts
from tracker.vocab import RequestKind


def policy_for(org: Organization) -> Policy:
    return Policy(
        ladder_hours=tuple(int(h) for h in (org.alert_ladder_hours or [72, 24, 6])),
        unanswered_days={str(k): int(v) for k, v in (org.unanswered_days or {}).items()},
        default_unanswered_days=org.default_unanswered_days or 14,
        whereabouts_hours=org.whereabouts_hours or 24,
    )


# Where a request that authenticated from plain columns keeps its organisation's thresholds
# (``remember_policy``), so that nothing further on loads the organisation to compute them.
_POLICY_KEY = "amparo_org_policy"


def remember_policy(session: Session, organization_id: uuid.UUID, policy: Policy) -> None:
    session.info[_POLICY_KEY] = (organization_id, policy)


def organization_policy(session: Session, organization_id: uuid.UUID | None) -> Policy:
    """The thresholds of the organisation: as remembered for this session, else from its row
    (the defaults when there is none)."""
    known = session.info.get(_POLICY_KEY)
    if isinstance(known, tuple) and known[0] == organization_id:
        return known[1]  # type: ignore[no-any-return]
    org = session.get(Organization, organization_id) if organization_id is not None else None
    return policy_for(org) if org is not None else Policy()


def _root_kind(request: Request, by_id: dict[uuid.UUID, Request]) -> RequestKind | None:
    seen: set[uuid.UUID] = set()
    current = request
    while current.appeal_of_id is not None and current.appeal_of_id not in seen:
        seen.add(current.appeal_of_id)
        parent = by_id.get(current.appeal_of_id) or current.appeal_of
        if parent is None:
            return None
        current = parent
    return current.kind if current is not request else None


def request_facts(request: Request, siblings: Iterable[Request] = ()) -> RequestFacts:
    return RequestFacts(
        id=request.id,
        kind=RequestKind(request.kind),
        status=request.status,
        filed_at=request.filed_at,
        decided_at=request.decided_at,
        stay_expires_at=request.stay_expires_at,
        documentation_received_at=request.documentation_received_at,
        forum=request.forum,
        temporary=bool(request.temporary),
        # The chain is looked up only for an appeal: a page of 50 cases built the lookup of
        # every case's requests for each of them.
        appeal_root_kind=(
            _root_kind(request, {r.id: r for r in siblings}) if request.appeal_of_id else None
        ),
    )


def case_facts(case: Case) -> CaseFacts:
    requests = list(case.requests)
    unreachable = [
        c.unreachable_since for c in case.contacts if c.unreachable and c.unreachable_since
    ]
    facility = case.facility
    return CaseFacts(
        id=case.id,
        custody_status=case.custody_status,
        removal_scheduled_at=case.removal_scheduled_at,
        closed_at=case.closed_at,
        requests=tuple(request_facts(r, requests) for r in requests),
        unreachable_since=min(unreachable) if unreachable else None,
        facility_kind=facility.kind if facility is not None else None,
        facility_since=(case.facility_since or case.created_at) if facility is not None else None,
        location_unknown_since=case.location_unknown_since,
    )
