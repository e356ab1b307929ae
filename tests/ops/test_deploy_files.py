"""The files of docs/deploy.md, checked by the tools that will read them: ``systemd-analyze
verify`` for the units, ``caddy validate`` for the proxy, and the restore-drill script run on a
real backup. (A real boot under systemd and a real TLS certificate cannot be tested here.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from tests.jobs.world import T0
from tracker import backup, canary, db

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted(p for p in DEPLOY.iterdir() if p.suffix in (".service", ".timer"))
PROCFILE = (ROOT / "Procfile").read_text()


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI_REQUIRE_OPS_TOOLS"):
            pytest.fail(f"{name} is not installed (Debian package {package}): CI requires it")
        pytest.skip(f"{name} is not installed (Debian package {package}); .ci/run installs it")
    return path


def _verify(unit_dir: Path, names: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("systemd-analyze", "systemd"), "verify", "--man=no", *names],
        cwd=unit_dir,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """The units as installed under a stand-in for /opt/amparo whose .venv is this one."""
    root = tmp_path / "opt-amparo"
    root.mkdir()
    (root / ".venv").symlink_to(Path(sys.executable).parent.parent)
    (root / "deploy").symlink_to(DEPLOY)
    for unit in UNITS:
        text = unit.read_text().replace("/opt/amparo", str(root))
        (tmp_path / unit.name).write_text(text)
    return tmp_path


def test_every_process_of_the_procfile_has_a_unit() -> None:
    names = {u.name for u in UNITS}
    for process in ("web", "clock", "worker"):
        assert f"{process}:" in PROCFILE
        assert f"amparo-{process}.service" in names
    assert {"amparo-backup.service", "amparo-backup.timer"} <= names
    web = (DEPLOY / "amparo-web.service").read_text()
    assert "--proxy-headers" in web and "FORWARDED_ALLOW_IPS" in web
    assert "127.0.0.1" in web  # the app listens on loopback, behind the proxy


def test_systemd_units_verify_cleanly(installed: Path) -> None:
    done = _verify(installed, [u.name for u in UNITS])
    # verify exits 0 on mere warnings (an unknown key): no output at all is the bar.
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr


def test_systemd_verify_catches_a_broken_unit(installed: Path) -> None:
    unit = installed / "amparo-clock.service"
    unit.write_text(unit.read_text().replace("Restart=always", "Restartt=always"))
    done = _verify(installed, [unit.name])
    assert "Unknown key" in done.stdout + done.stderr


def test_caddyfile_validates(tmp_path: Path) -> None:
    caddy = _tool("caddy", "caddy")
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    done = subprocess.run(
        [caddy, "validate", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    broken = tmp_path / "Caddyfile"
    broken.write_text((DEPLOY / "Caddyfile").read_text().replace("reverse_proxy", "reverse_proxi"))
    done = subprocess.run(
        [caddy, "validate", "--config", str(broken), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode != 0


def test_restore_drill_script_on_a_real_backup(db_url: str, tmp_path: Path) -> None:
    with db.get_engine().begin() as conn:
        canary.ensure(conn, T0)
    backup.backup(db_url, tmp_path / "backups", T0)
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "AMPARO": str(Path(sys.executable).parent / "amparo"),
    }

    def drill() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", str(DEPLOY / "restore-drill.sh"), str(tmp_path / "backups")],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )

    done = drill()
    assert done.returncode == 0, done.stderr
    assert re.search(r"restore drill passed: .*amparo-\d{8}T\d{6}Z", done.stdout)
    # With other keys the drill fails loudly.
    env["DATA_KEYS"] = Fernet.generate_key().decode()
    done = drill()
    assert done.returncode != 0 and "cannot decrypt" in done.stderr
    if db_url.startswith("postgresql"):
        # The scratch databases were dropped.
        engine = db.get_engine()
        with engine.connect() as conn:
            names = conn.scalars(text("SELECT datname FROM pg_database")).all()
        assert not [n for n in names if n.startswith("amparo_drill_")]
