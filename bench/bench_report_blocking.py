"""A case read's rate while reports run: does a report hold the event loop? (issue 12)

On the embedded default (a SQLite file) and ONE uvicorn worker — so that the reports and the
case reads share a process and its event loop — wrk reads random cases (10 connections) for a
few seconds alone, then again while a second client asks for the field-office report
(``GET /api/reports/field-offices``, a year of the organisation's cases) back to back, one at a
time.

Report handlers are sync, so Starlette runs them on its thread pool and the loop keeps
answering reads; they read without a transaction, so on SQLite they hold no write lock that a
read's audit row would wait behind (before: reads fell to 0.02-0.04x); and the report is
computed in a child process (``tracker.web.report_process``), so its Python work does not
share the server's interpreter lock with the reads (before: 0.7x). The figures: the read rate
during reports as a ratio to the rate alone (measured before and after), and the reads' p99
during reports beside their p99 alone and one report's time.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from datetime import UTC, datetime

import httpx
from cryptography.fernet import Fernet

from bench import loadgen
from bench.datagen import populate
from bench.harness import Context, Result, Section, set_environment
from tracker.migrate import upgrade

CONNECTIONS = 10
# Issue 12 asks for "unchanged": within the noise of a 5-second wrk run on a shared machine.
RATE_RATIO_TARGET = 0.8


class _Reports:
    """Asks for the report back to back on its own thread until stopped; times each answer."""

    def __init__(self, base: str, token: str) -> None:
        self.url = base + "/api/reports/field-offices"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.seconds: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reports", daemon=True)

    def _loop(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                answer = client.get(self.url, headers=self.headers)
                if answer.status_code == 200:
                    self.seconds.append(time.perf_counter() - started)
                else:
                    self.failures += 1

    def __enter__(self) -> _Reports:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)


def run(ctx: Context) -> list[Section]:
    if ctx.quick:
        # Runs of a second or two, all the quick run's budget allows, swing between 0.5x and
        # 0.9x: measured in the full run only (`python -m bench --only bench_report_blocking`).
        return []
    loadgen.ensure_wrk()
    n_cases = 20_000
    seconds = 5.0
    path = ctx.workdir / f"report-blocking-{uuid.uuid4().hex[:6]}.sqlite3"
    url = f"sqlite:///{path}"
    env = loadgen.server_env(ctx.workdir / "var", url, Fernet.generate_key().decode())
    restore_environment = set_environment(env)
    try:
        upgrade(url)
        data = populate(url, cases=n_cases, now=datetime.now(UTC))
        ids_file = ctx.workdir / "report_blocking_ids.txt"
        ids_file.write_text("\n".join(str(c) for c in data.case_ids) + "\n")
        lua_env = {"AMPARO_BENCH_TOKEN": data.tokens["hotline"], "AMPARO_BENCH_IDS": str(ids_file)}
        script = loadgen.write_script(ctx.workdir, "report_blocking.lua", loadgen.LUA_GET_IDS)
        with loadgen.uvicorn_server(
            "tracker.web.app:app", env=env, workers=1, ready_path="/healthz"
        ) as base:

            def reads(for_seconds: float) -> loadgen.LoadResult:
                return loadgen.run_wrk(
                    base + "/api/cases/", connections=CONNECTIONS, seconds=for_seconds,
                    script=script, env=lua_env,
                )  # fmt: skip

            # Warm both paths (imports, statement caches) before measuring either.
            with _Reports(base, data.tokens["coordinator"]) as warm:
                reads(1)
            # One report at a time with nothing else running: what a report costs alone.
            with _Reports(base, data.tokens["coordinator"]) as solo:
                time.sleep(seconds)
            alone = reads(seconds)
            with _Reports(base, data.tokens["coordinator"]) as reports:
                during = reads(seconds)
            # Alone again: the database has grown by the reads' audit rows meanwhile, so
            # "alone" is the mean of before and after (the notes give both).
            after = reads(seconds)
    finally:
        restore_environment()
        path.unlink(missing_ok=True)
    report_s = statistics.median(solo.seconds) if solo.seconds else float("nan")
    alone_rps = (alone.rps + after.rps) / 2
    ratio = during.rps / alone_rps if alone_rps else 0.0
    results = [
        Result(
            figure="GET /api/cases/{id} alone, 1 worker, SQLite",
            value=alone_rps,
            unit="/s",
            notes=f"{alone.rps:.0f}/s before the reports, {after.rps:.0f}/s after; "
            f"p99 {alone.p99_ms:.1f} ms, {alone.errors + after.errors} errors",
        ),
        Result(
            figure="GET /api/cases/{id} while reports run back to back",
            value=during.rps,
            unit="/s",
            baseline=alone_rps,
            baseline_label="the same reads alone (before and after)",
            target=f"≥ {RATE_RATIO_TARGET}× alone",
            met=ratio >= RATE_RATIO_TARGET and during.errors == 0 and not reports.failures,
            notes=f"{len(reports.seconds)} reports answered ({reports.failures} failed), "
            f"{during.errors} read errors",
        ),
        Result(
            figure="case read p99 while reports run back to back",
            value=during.p99_ms,
            unit="ms",
            baseline=alone.p99_ms,
            baseline_label="p99 of the same reads alone",
            notes=f"one report alone takes {report_s * 1000:.0f} ms (median of "
            f"{len(solo.seconds)}); {len(warm.seconds)} warm-up reports",
        ),
    ]
    text = (
        f"A SQLite file with {n_cases:,} cases; uvicorn with ONE worker (reports and reads share "
        f"its event loop); wrk {CONNECTIONS} connections, {seconds:.0f} s per run; the report "
        "client asks again as soon as it is answered. A report on the event loop would hold "
        "every read for a whole report: the p99 figure would be at least the report's time. "
        "The report is computed in the server's report process (`REPORT_PROCESSES=1`). In "
        "every run the reads were faster while reports ran (1.2–1.3×), not slower. Not "
        "explained: SQLite's checkpoints are not the cause (a ten times larger "
        "wal_autocheckpoint changed nothing); perhaps a busy second core of this virtual "
        "machine answers wrk's ping-pong sooner than an idle one."
    )
    return [Section("Reports and reads together", results, text=text)]
