"""A throw-away PostgreSQL cluster on a free loopback port, for fault injection and load.

The machine's shared PostgreSQL serves every other engineer's tests: it is never stopped, and
a load test must not take its connection slots. Fault tests stop and start THIS cluster; the
API load benchmark runs on one of its own. It uses Debian's server binaries
(``/usr/lib/postgresql/<major>/bin``); ``initdb`` refuses to run as root, so as root the
cluster is created and run as the ``postgres`` system user (``runuser``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class ClusterUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine (or no user to run them as)."""


def _bin_dir() -> Path:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    for candidate in reversed(candidates):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise ClusterUnavailable("no /usr/lib/postgresql/*/bin with initdb and pg_ctl")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """``start()``/``stop()`` a private cluster; ``url`` is a psycopg URL to its database."""

    def __init__(self, root: Path | None = None) -> None:
        self.bin = _bin_dir()
        self.root = root or Path(tempfile.mkdtemp(prefix="amparo-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise ClusterUnavailable("running as root and no 'postgres' user") from exc
            self._as = ["runuser", "-u", "postgres", "--"]
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.sockets.mkdir(exist_ok=True)
        if self._as:
            os.chown(self.sockets, pwd.getpwnam("postgres").pw_uid, -1)
        self._run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, argv: list[str], timeout: float = 60) -> None:
        subprocess.run(
            [*self._as, *argv],
            check=True,
            timeout=timeout,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.root,
        )

    def start(self, *, durable: bool = False, max_connections: int = 100) -> None:
        """``durable``: PostgreSQL's default fsync and commit settings (for honest timings).

        Otherwise fsync is off: the fault scenarios stop PostgreSQL cleanly or kill clients,
        never the machine, so durability across a power cut is not what they test.
        """
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.sockets} -c max_connections={max_connections}"
        )
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
             "-w", "-t", "60", "start"]
        )  # fmt: skip
        self._wait_ready()

    def stop(self, mode: str = "fast") -> None:
        """``fast`` disconnects clients and shuts down; ``immediate`` is a crash (no checkpoint)."""
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def running(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            return True
        return False

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if result.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"private PostgreSQL did not become ready; see {self.log}")

    def destroy(self) -> None:
        if self.running():
            with contextlib.suppress(subprocess.SubprocessError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
