"""A real server for the browser tests: uvicorn on a free 127.0.0.1 port, on a migrated SQLite
file, with the embedded clock; and Debian's Chromium driven by Playwright (never a download).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from tracker import db
from tracker.migrate import upgrade
from tracker.settings import get_settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base_url: str
    database_url: str
    sessions: sessionmaker[Session]
    log_path: Path


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{workdir / 'amparo.sqlite3'}"
    upgrade(url)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "VAR_DIR": str(workdir / "var"),
        "BASE_URL": base_url,
        "SMS_TRANSPORT": "log",
        "SWEEP_INTERVAL_SECONDS": "2",
    }
    log = (workdir / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tracker.cli",
            "serve",
            "--embedded",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    engine = db.make_engine(url)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    "the server exited:\n" + (workdir / "server.log").read_text()[-3000:]
                )
            try:
                if httpx.get(base_url + "/login", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start within 30 s")
            time.sleep(0.2)
        yield Server(
            base_url,
            url,
            db.make_sessionmaker(engine, get_settings()),
            workdir / "server.log",
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        engine.dispose()
        ARTIFACTS.mkdir(exist_ok=True)
        module = request.module.__name__.rsplit(".", 1)[-1]
        shutil.copyfile(workdir / "server.log", ARTIFACTS / f"{module}-server.log")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI_REQUIRE_BROWSER"):
            pytest.fail(reason + " — CI requires the browser tests")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()
