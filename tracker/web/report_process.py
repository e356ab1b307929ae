"""Reports are computed in a child process of the web process (``REPORT_PROCESSES``, default 1).

A field-office report over a year of a busy organisation is about 0.7 s of Python. On the web
process's own threads it left the event loop free, but not the interpreter: one lock runs one
thread's Python at a time, so while reports ran back to back the case reads of a hotline on
call fell to 0.7× their rate. In a child the report's Python runs on another core; the web
process only waits for the answer (waiting takes no interpreter time).

The child is started on the first report (``spawn``: a clean interpreter, not a fork of a
threaded server), reads the same database with its own connection, computes with the same
``tracker.reports`` code and sends back the ``Report``. One that dies (killed, out of memory)
is replaced and the report asked again once. ``REPORT_PROCESSES=0`` computes in the request's
own thread, as does an in-memory SQLite database, which no other process can open.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from tracker import db, reports
from tracker.models import Organization
from tracker.reports import Report
from tracker.settings import Settings

log = logging.getLogger("amparo.reports")

_guard = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_size = 0


def field_office_report(
    session: Session,
    org: Organization,
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    with_rows: bool = False,
) -> Report:
    """``reports.field_office_report``, computed in a report process. ``with_rows``: keep the
    requests themselves in ``Report.rows`` (the public CSV needs them; the rest only the
    figures, so 20,000 rows are not sent back and rebuilt in this process for nothing)."""
    settings = db.settings_of(session)
    url = session.get_bind().engine.url
    if settings.report_processes <= 0 or url.database in (None, "", ":memory:"):
        return reports.field_office_report(session, org, start, end, now)
    args = (settings, url.render_as_string(hide_password=False), org.id, start, end, now)
    pool = _get_pool(settings.report_processes)
    try:
        return pool.submit(_compute, *args, with_rows).result()
    except BrokenProcessPool:
        _discard(pool)
        log.warning("a report process died; starting another and asking again")
    # Once more, in a new pool; should that one die too, the error is the answer.
    return _get_pool(settings.report_processes).submit(_compute, *args, with_rows).result()


def _get_pool(size: int) -> ProcessPoolExecutor:
    global _pool, _pool_size
    with _guard:
        if _pool is None or _pool_size != size:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=False)
            _pool = ProcessPoolExecutor(
                max_workers=size, mp_context=multiprocessing.get_context("spawn")
            )
            _pool_size = size
        return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _guard:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def shutdown() -> None:
    """Stop the report processes (the app's shutdown; a report under way is finished)."""
    global _pool
    with _guard:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


# --- in the report process ------------------------------------------------------------------

# The child's sessions per database; tests move from one database to the next, so only the
# latest few are kept and the others' connections closed.
_sessions: dict[str, sessionmaker[Session]] = {}
SESSIONS_KEPT = 2


def _sessions_for(settings: Settings, address: str) -> sessionmaker[Session]:
    factory = _sessions.pop(address, None)
    if factory is None:
        engine = db.make_engine(address, pool_size=1, max_overflow=1)
        factory = db.make_read_sessionmaker(engine, settings)
    _sessions[address] = factory  # now the newest
    while len(_sessions) > SESSIONS_KEPT:
        old = _sessions.pop(next(iter(_sessions)))
        bind = old.kw["bind"]
        bind.engine.dispose()
    return factory


def _compute(
    settings: Settings,
    address: str,
    organization_id: uuid.UUID,
    start: datetime,
    end: datetime,
    now: datetime,
    with_rows: bool,
) -> Report:
    with _sessions_for(settings, address)() as session:
        org = session.get(Organization, organization_id)
        if org is None:
            raise LookupError("organisation not found")
        report = reports.field_office_report(session, org, start, end, now)
    if not with_rows:
        report.rows = []
    return report
