"""Twilio's OpenAPI descriptions and Stoplight Prism mocking them on a free loopback port.

Both come from the repository's own npm development dependencies (package.json: the
descriptions from ``@twilio-alpha/mcp``, Prism from ``@stoplight/prism-cli``), installed on
first use. Prism answers a valid request as Twilio's description does and logs every request
it finds invalid, so tests read its log for violations."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "node_modules"
SPECS = NODE_MODULES / "@twilio-alpha" / "mcp" / "twilio-oai" / "spec" / "json"
PRISM = NODE_MODULES / ".bin" / "prism"


def npm_provides(wanted: Path) -> Path:
    """``wanted`` from the repository's own npm development dependencies, installing them once."""
    if wanted.exists():
        return wanted
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(
            f"npm is not installed: cannot install {wanted.relative_to(ROOT)} (package.json)"
        )
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    assert wanted.exists(), f"npm ci did not provide {wanted.relative_to(ROOT)}: see package.json"
    return wanted


def twilio_spec(name: str = "twilio_api_v2010.json") -> Path:
    """Twilio's OpenAPI description ``name`` (e.g. ``twilio_messaging_v1.json``)."""
    return npm_provides(SPECS / name)


def prism_binary() -> Path:
    return npm_provides(PRISM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(binary: Path, spec: Path, log: Path, start_within: float) -> Iterator[str]:
    """Prism serving ``spec`` (its output in ``log``) until the block ends; yields its URL."""
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(binary), "mock", "-h", "127.0.0.1", "-p", str(port), str(spec)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + start_within
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"Prism exited: {log.read_text()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        else:
            pytest.fail(f"Prism did not start within {start_within:g} s")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
