"""The web process killed (SIGKILL) in the middle of intakes: never half a case.

Eight clients post intakes continuously to a real uvicorn on a private PostgreSQL; the
server is killed mid-stream. Each client saw either an error or a 201 with a case; every
case in the database is whole: its audit entry, its timeline event, its name index, and
(its removal being 10 h away) its alert with the SMS to counsel, all written together.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests import factories
from tests.reliability.procs import start_web
from tracker import db
from tracker.models import Alert, AuditEntry, Case, CaseNameToken, Notification, TimelineEvent
from tracker.services import Actor
from tracker.services.orgs import create_token
from tracker.types import utcnow
from tracker.vocab import Role

CLIENTS = 8


def _intake(base: str, token: str, attorney_id: uuid.UUID, n: int) -> httpx.Response:
    body = {
        "given_name": f"Killtest{n}",
        "family_name": "Example",
        "a_number": f"A{200000000 + n}",
        "removal_scheduled_at": (utcnow() + timedelta(hours=10)).isoformat(),
        "attorney_id": str(attorney_id),
    }
    return httpx.post(
        base + "/api/cases",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


@pytest.mark.slow
def test_web_killed_during_intake_leaves_no_half_case(private_db: str, tmp_path: Path) -> None:
    now = utcnow()
    with db.session_scope() as session:
        org = factories.org(session, now, "Kill Test Hotline")
        attorney = factories.user(session, org, now, role=Role.attorney, phone="+12025550150")
        hotline = factories.user(session, org, now, role=Role.hotline)
        token = create_token(session, Actor.system("test"), hotline, now)
        attorney_id = attorney.id

    web, base = start_web({"DATABASE_URL": private_db}, tmp_path / "web.log")
    created: list[uuid.UUID] = []
    failed: list[str] = []
    lock = threading.Lock()
    counter = iter(range(10**6))
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            with lock:
                n = next(counter)
            try:
                answer = _intake(base, token, attorney_id, n)
            except httpx.TransportError as exc:
                with lock:
                    failed.append(type(exc).__name__)
                continue
            with lock:
                if answer.status_code == 201:
                    created.append(uuid.UUID(answer.json()["id"]))
                else:
                    failed.append(str(answer.status_code))

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    try:
        for t in threads:
            t.start()
        # Let intakes flow, then kill while requests are certainly in flight.
        deadline = time.monotonic() + 20
        while len(created) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        web.kill9()
        time.sleep(0.5)  # the clients now see connection errors
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
        if web.alive():
            web.kill9()

    assert len(created) >= 20, f"the load never got going: {failed[:5]}\n{web.output()}"
    assert failed, "the kill should have cut some intakes short"
    assert not [f for f in failed if f.isdigit()], f"HTTP errors before the kill: {failed}"

    with db.session_scope() as session:
        cases = list(session.scalars(select(Case).where(Case.organization_id == org.id)))
        ids = {c.id for c in cases}
        # Every 201 is a stored case; the database may also hold intakes committed just
        # before the kill whose answer was lost — allowed, as long as each one is whole.
        assert set(created) <= ids
        assert len(ids) <= next(counter)
        for case in cases:
            cid = case.id
            where = f"case {cid} ({case.given_name})"
            audit = session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.entity == "case", AuditEntry.entity_id == str(cid))
            )
            assert audit == 1, f"{where}: {audit} audit entries"
            assert session.scalar(
                select(func.count())
                .select_from(TimelineEvent)
                .where(TimelineEvent.case_id == cid, TimelineEvent.kind == "case_opened")
            ), f"{where}: no timeline event"
            assert session.scalar(
                select(func.count()).select_from(CaseNameToken).where(CaseNameToken.case_id == cid)
            ), f"{where}: not in the name index"
            alert_ids = list(session.scalars(select(Alert.id).where(Alert.case_id == cid)))
            assert len(alert_ids) == 1, f"{where}: {len(alert_ids)} alerts"
            assert session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.alert_id == alert_ids[0])
            ), f"{where}: its alert has no SMS queued"

    print(
        f"\nweb kill: {len(created)} intakes answered 201, {len(failed)} cut short, "
        f"{len(ids)} cases stored, all whole"
    )
    # A new web process serves every acknowledged case as it was answered.
    web2, base2 = start_web({"DATABASE_URL": private_db}, tmp_path / "web2.log")
    try:
        for cid in created[:5] + created[-5:]:
            got = httpx.get(
                f"{base2}/api/cases/{cid}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            assert got.status_code == 200 and got.json()["id"] == str(cid)
    finally:
        web2.stop()
