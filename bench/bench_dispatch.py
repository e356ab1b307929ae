"""SMS dispatch: throughput, throttling, exactly-once with several workers, faults, kill -9.

A loopback stand-in of Twilio's Messages API (uvicorn, its own process) answers each POST
after 100 ms and counts posts per notification (from the StatusCallback URL). Workers are
real ``amparo worker`` processes with ``SMS_TRANSPORT=twilio`` pointed at the stand-in.
Rates are measured from the stand-in's own clock (first to last accepted post), so process
start-up does not flatter or penalise them.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx

from bench.harness import ROOT, Context, Result, Section
from bench.twilio_messages import MessageStore

ACCOUNT_SID = "AC" + "0" * 31 + "1"
SERVICE_SID = "MG" + "0" * 31 + "2"
LATENCY = 0.1

# --- the stand-in (imported by uvicorn in its own process) ----------------------------

_posts: Counter[str] = Counter()
_times: list[float] = []
_failed = 0
_store = MessageStore(ACCOUNT_SID)


async def standin_app(
    scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
) -> None:
    global _failed
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            # The client died mid-request (the kill -9 scenario): Twilio creates nothing from
            # a request it did not receive whole, and neither does the stand-in.
            return
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["method"] == "GET" and scope["path"].endswith("/Messages.json"):
        # Twilio's message list: the crash check a worker makes before re-sending a row.
        query = {k: v[-1] for k, v in parse_qs(scope["query_string"].decode()).items()}
        await _respond(send, 200, json.dumps(_store.list_page(scope["path"], query)).encode())
        return
    if scope["method"] == "GET":
        payload = json.dumps({"posts": _posts, "times": _times, "failed": _failed}).encode()
        await _respond(send, 200, payload)
        return
    if scope["method"] == "DELETE":
        _posts.clear()
        _times.clear()
        _store.messages.clear()
        _failed = 0
        await _respond(send, 204, b"")
        return
    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    await asyncio.sleep(LATENCY)
    fail_rate = float(os.environ.get("STANDIN_FAIL_RATE", "0"))
    if fail_rate and random.random() < fail_rate:
        _failed += 1
        if random.random() < 0.5:
            await _respond(
                send, 429, b'{"code": 20429, "message": "Too Many Requests", "status": 429}'
            )
        else:
            await _respond(send, 500, b'{"message": "Internal Server Error", "status": 500}')
        return
    notification = form.get("StatusCallback", "").rsplit("/", 1)[-1]
    _posts[notification] += 1
    _times.append(time.time())
    await _respond(send, 201, json.dumps(_store.create(form)).encode())


async def _respond(send: Callable[..., Any], status: int, payload: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})


# --- the harness side ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class StandIn:
    url: str
    proc: subprocess.Popen[bytes]

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(self.url + "/_stats", timeout=30).json())

    def reset(self) -> None:
        httpx.delete(self.url + "/_stats", timeout=30)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def start_standin(fail_rate: float = 0.0) -> StandIn:
    port = _free_port()
    env = {**os.environ, "STANDIN_FAIL_RATE": str(fail_rate)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bench_dispatch:standin_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--backlog",
            "4096",
        ],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(url + "/_stats", timeout=1)
            return StandIn(url, proc)
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("stand-in did not start")


def _environment(ctx: Context) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {
        "VAR_DIR": str(ctx.workdir / "var"),
        "SECRET_KEY": "bench-secret",
        "DATA_KEYS": os.environ.get("BENCH_DATA_KEYS") or Fernet.generate_key().decode(),
        "BASE_URL": "http://bench.example",
        "QUIET_HOURS": "off",
    }
    os.environ["BENCH_DATA_KEYS"] = env["DATA_KEYS"]
    return env


def _use_database(env: dict[str, str], url: str) -> None:
    from tracker import db
    from tracker.settings import get_settings

    os.environ.update(env)
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    db.reset()


def _fresh_sqlite(ctx: Context, env: dict[str, str], name: str) -> str:
    """A new SQLite file, copied from one migrated once per run (a migration per scenario
    cost seconds of the quick run's budget)."""
    import shutil

    from tracker.migrate import upgrade

    template = ctx.workdir / "dispatch-template.sqlite3"
    if not template.exists():
        upgrade(f"sqlite:///{template}")
    path = ctx.workdir / (name + ".sqlite3")
    shutil.copyfile(template, path)
    url = f"sqlite:///{path}"
    _use_database(env, url)
    return url


def _fresh_postgres(ctx: Context, env: dict[str, str]) -> tuple[str, Callable[[], None]]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from tracker import db
    from tracker.migrate import upgrade

    assert ctx.postgres_url
    name = f"amparo_bench_dispatch_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(db.normalise_url(ctx.postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(db.normalise_url(ctx.postgres_url)).set(database=name)
    rendered = url.render_as_string(hide_password=False)
    _use_database(env, rendered)
    upgrade(rendered)

    def drop() -> None:
        db.reset()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return rendered, drop


def _queue(n: int) -> None:
    """``n`` counsel SMS (urgent, one segment), inserted in bulk like a busy clock would."""
    from sqlalchemy import insert

    from notifications import messages
    from tracker import db
    from tracker.models import Notification, Organization

    now = datetime.now(UTC)
    with db.session_scope() as session:
        org = Organization(id=uuid.uuid4(), name=f"Bench {uuid.uuid4().hex[:6]}")
        session.add(org)
        session.flush()
        rendered = messages.render(
            "stay_expiring", "en", {"first_name": "Test", "local_time": "Tue 10:00"}
        )
        rows = [
            {
                "id": uuid.uuid4(),
                "organization_id": org.id,
                "to_phone": f"+120255501{i % 100:02d}",
                "language": "en",
                "kind": "stay_expiring",
                "body": rendered.body,
                "segments": rendered.segments,
                "encoding": rendered.encoding,
                "urgent": True,
                "dedupe_key": f"bench:{uuid.uuid4().hex}",
                "status": "queued",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n)
        ]
        for start in range(0, n, 2000):
            session.execute(insert(Notification), rows[start : start + 2000])


def _counts() -> dict[str, int]:
    from sqlalchemy import func, select

    from tracker import db
    from tracker.models import Notification

    with db.session_scope() as session:
        return {
            str(status): int(n)
            for status, n in session.execute(
                select(Notification.status, func.count()).group_by(Notification.status)
            )
        }


def _worker(
    env: dict[str, str], db_url: str, standin: StandIn, **extra: str
) -> subprocess.Popen[bytes]:
    worker_env = {
        **os.environ,
        **env,
        "DATABASE_URL": db_url,
        "SMS_TRANSPORT": "twilio",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": "bench-token",
        "TWILIO_MESSAGING_SERVICE_SID": SERVICE_SID,
        "TWILIO_API_BASE_URL": standin.url,
        "WORKER_POLL_SECONDS": "0.2",
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("amparo")), "worker"],
        cwd=ROOT,
        env=worker_env,
        stdout=subprocess.DEVNULL,
    )


def _wait_all_sent(n: int, timeout: float, procs: list[subprocess.Popen[bytes]]) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = _counts()
        if counts.get("sent", 0) + counts.get("failed", 0) >= n:
            break
        time.sleep(0.5)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return counts


def _worker_stats() -> dict[str, int]:
    """The workers' own counters, summed: each writes them to its heartbeat row as it stops."""
    from sqlalchemy import select

    from notifications.dispatcher import HEARTBEAT_PREFIX
    from tracker import db
    from tracker.models import Heartbeat

    totals: Counter[str] = Counter()
    with db.session_scope() as session:
        for details in session.scalars(
            select(Heartbeat.details).where(Heartbeat.name.startswith(HEARTBEAT_PREFIX))
        ):
            totals.update({k: int(v) for k, v in (details or {}).items()})
    return dict(totals)


def _batching(worker: dict[str, int]) -> tuple[float, float]:
    """(claim transactions per 1,000 SMS, rows per result batch)."""
    settled = max(1, worker.get("sent", 0) + worker.get("adopted", 0))
    per_thousand = 1000 * worker.get("claims", 0) / settled
    per_batch = worker.get("result_rows", 0) / max(1, worker.get("result_batches", 0))
    return per_thousand, per_batch


def _unposted_and_foreign(stats: dict[str, Any]) -> tuple[int, int]:
    """(rows in the database never posted, posts naming no row in the database): the second
    would be a late post of an earlier phase's row, i.e. a duplicate the reset hid."""
    from sqlalchemy import select

    from tracker import db
    from tracker.models import Notification

    with db.session_scope() as session:
        rows = {str(i) for i in session.scalars(select(Notification.id))}
    posted = set(stats["posts"])
    return len(rows - posted), len(posted - rows)


def _rate(stats: dict[str, Any]) -> float:
    times = sorted(stats["times"])
    if len(times) < 2:
        return 0.0
    return (len(times) - 1) / (times[-1] - times[0])


def _posted(stats: dict[str, Any]) -> tuple[int, int, int]:
    """(distinct notifications posted, duplicates, posts in all)."""
    posts: dict[str, int] = stats["posts"]
    return len(posts), sum(max(0, c - 1) for c in posts.values()), sum(posts.values())


def run(ctx: Context) -> list[Section]:
    n = 1_000 if ctx.quick else 10_000
    # The one-worker rate: long enough that the first claim, 96 threads' first connections
    # and the last sends' tail are a small part of it.
    n_rate = 2_000 if ctx.quick else 10_000
    env = _environment(ctx)
    results: list[Result] = []
    notes: list[str] = []
    standin = start_standin()
    try:
        # 1. One worker, throttling off.
        url = _fresh_sqlite(ctx, env, "throughput")
        _queue(n_rate)
        concurrency = 96
        bound = concurrency / LATENCY
        workers = [
            _worker(
                env,
                url,
                standin,
                WORKER_CONCURRENCY=str(concurrency),
                SENDER_RATE_PER_SECOND="0",
            )
        ]
        counts = _wait_all_sent(n_rate, 600, workers)
        stats = standin.stats()
        rate = _rate(stats)
        distinct, dupes, _ = _posted(stats)
        claims, per_batch = _batching(_worker_stats())
        results += [
            Result(
                f"one worker, {n_rate:,} SMS, stand-in answers after 100 ms, SQLite, "
                f"concurrency {concurrency}",
                rate,
                "/s",
                target=">= 200 /s",
                met=rate >= 200 and distinct == n_rate,
                notes=f"{counts.get('sent', 0):,} sent, {dupes} duplicates",
            ),
            Result(
                "one worker: rate ÷ its in-flight bound (concurrency ÷ provider latency)",
                rate / bound,
                "×",
                target="≥ 0.8",
                met=rate / bound >= 0.8 and distinct == n_rate,
                notes=f"bound {bound:,.0f}/s ({concurrency} ÷ {LATENCY * 1000:.0f} ms)",
            ),
            Result("one worker: claim transactions per 1,000 SMS", claims, ""),
            Result("one worker: rows per result batch (one commit each)", per_batch, ""),
        ]

        # 2. Throttled at R per sender.
        standin.reset()
        rate_target = 20.0
        m = 60 if ctx.quick else 600
        url = _fresh_sqlite(ctx, env, "throttle")
        _queue(m)
        workers = [
            _worker(
                env, url, standin, WORKER_CONCURRENCY="16", SENDER_RATE_PER_SECOND=str(rate_target)
            )
        ]
        _wait_all_sent(m, 600, workers)
        achieved = _rate(standin.stats())
        results.append(
            Result(
                f"throttled at R = {rate_target:.0f}/s per sender, {m} SMS",
                achieved,
                "/s",
                target=f"within 5% of {rate_target:.0f} /s",
                met=abs(achieved - rate_target) <= 0.05 * rate_target,
            )
        )

        # 3. Three workers on PostgreSQL: each SMS posted exactly once.
        if ctx.postgres_url:
            standin.reset()
            url, drop = _fresh_postgres(ctx, env)
            try:
                _queue(n)
                workers = [
                    _worker(env, url, standin, WORKER_CONCURRENCY="32", SENDER_RATE_PER_SECOND="0")
                    for _ in range(3)
                ]
                counts = _wait_all_sent(n, 600, workers)
                stats = standin.stats()
                distinct, dupes, total = _posted(stats)
                claims, per_batch = _batching(_worker_stats())
                results.append(
                    Result(
                        f"three workers, PostgreSQL, {n:,} SMS: duplicate posts",
                        dupes,
                        "",
                        target="0 (each exactly once)",
                        met=dupes == 0 and distinct == n,
                        notes=(
                            f"{distinct:,} distinct of {n:,}; {total:,} posts; "
                            f"{_rate(stats):.0f}/s combined; {claims:.0f} claim transactions "
                            f"per 1,000 SMS; {per_batch:.1f} rows per result batch"
                        ),
                    )
                )

                # 4. Kill -9 a worker mid-batch, start another.
                standin.reset()
                with_lease = {
                    "WORKER_CONCURRENCY": "32",
                    "SENDER_RATE_PER_SECOND": "0",
                    "SMS_LEASE_SECONDS": "5",
                }
                from sqlalchemy import text

                from tracker import db

                with db.session_scope() as session:
                    session.execute(text("DELETE FROM notifications"))
                    session.execute(text("DELETE FROM heartbeats"))
                _queue(n)
                victim = _worker(env, url, standin, **with_lease)
                while _posted(standin.stats())[0] < n // 3:
                    time.sleep(0.05)
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                # What the dead worker had posted but not yet recorded (its batched writer
                # lags a few ms) plus what it had on the wire (at most its concurrency) is
                # exactly what may be sent again.
                at_kill = _posted(standin.stats())[0]
                unrecorded = at_kill - _counts().get("sent", 0)
                bound = unrecorded + 32
                survivor = _worker(env, url, standin, **with_lease)
                counts = _wait_all_sent(n, 600, [survivor])
                stats = standin.stats()
                distinct, dupes, total = _posted(stats)
                lost, foreign = _unposted_and_foreign(stats)
                results.append(
                    Result(
                        f"kill -9 a worker at {at_kill:,}/{n:,} posted, start another: SMS lost",
                        lost,
                        "",
                        target="0 lost, 0 duplicates (retaken rows adopted from the list)",
                        met=lost == 0 and dupes == 0 and foreign == 0,
                        notes=(
                            f"{dupes} duplicates; {foreign} posts of an earlier phase's rows; "
                            f"in flight at the kill <= {bound} "
                            f"({unrecorded} posted but not yet recorded + 32 on the wire); "
                            f"{counts.get('sent', 0):,} rows sent"
                        ),
                    )
                )
            finally:
                drop()
        else:
            notes.append(
                "PostgreSQL not reachable: the three-worker and kill -9 figures were not measured."
            )
    finally:
        standin.stop()

    # 5. A stand-in failing 30% of requests with 429 or 500.
    flaky = start_standin(fail_rate=0.3)
    try:
        k = 300 if ctx.quick else 3_000
        url = _fresh_sqlite(ctx, env, "flaky")
        _queue(k)
        workers = [
            _worker(
                env,
                url,
                flaky,
                WORKER_CONCURRENCY="64",
                SENDER_RATE_PER_SECOND="0",
                SMS_RETRY_BASE_SECONDS="0.2",
                SMS_RETRY_MAX_SECONDS="2",
                SMS_MAX_ATTEMPTS="40",
            )
        ]
        counts = _wait_all_sent(k, 600, workers)
        stats = flaky.stats()
        distinct, dupes, _ = _posted(stats)
        results.append(
            Result(
                f"stand-in failing 30% with 429/500, {k:,} SMS: eventually sent",
                distinct,
                "SMS",
                target=f"{k:,}, none twice",
                met=distinct == k and dupes == 0 and counts.get("failed", 0) == 0,
                notes=f"{stats['failed']:,} failed requests retried; {dupes} duplicates",
            )
        )
    finally:
        flaky.stop()

    text = "\n".join(
        [
            "Workers are `amparo worker` processes (`SMS_TRANSPORT=twilio`, the real `twilio`",
            "client over httpx) against a loopback stand-in answering each POST after 100 ms.",
            "Rates come from the stand-in's clock, first to last accepted post.",
            *notes,
        ]
    )
    return [Section("SMS dispatch", results, text=text)]
