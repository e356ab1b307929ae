"""HTTP load on loopback: uvicorn servers and wrk (Debian's package) as the load generator.

wrk is a C event loop: on a 2-core machine it leaves the server most of the CPU, where a
Python generator would compete for it and measure itself. Lua scripts set the bearer
header, vary the case id per request and build a fresh intake body per POST.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


class LoadGenUnavailable(RuntimeError):
    pass


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian's packages when missing (as root, with apt)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, check=False)
        if shutil.which("wrk") is None:
            subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, check=False)
        found = shutil.which("wrk")
        if found:
            return found
    raise LoadGenUnavailable("wrk is not installed (apt-get install wrk)")


def server_env(var_dir: Path, url: str, keys: str) -> dict[str, str]:
    """The environment of an app server under load: its database and keys, SMS to the log."""
    return {
        "DATABASE_URL": url,
        "DATA_KEYS": keys,
        "SECRET_KEY": "bench-secret-key-not-for-production",
        "VAR_DIR": str(var_dir),
        "SMS_TRANSPORT": "log",
        "BASE_URL": "http://127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }


# The process group of each running server, by base URL: ``server_cpu_seconds`` reads it.
_GROUPS: dict[str, int] = {}


def server_cpu_seconds(base: str) -> float:
    """CPU time (user + system) used so far by the server at ``base``: its supervisor and workers.

    Read from /proc for every process of the server's session; CPU per request is the
    difference over a run divided by the requests it served (issue 12's measure).
    """
    group = _GROUPS[base]
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[2] is the process group, [11]/[12] utime/stime (man 5 proc, from field 3 on).
        if int(fields[2]) == group:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def uvicorn_server(
    app: str,
    *,
    env: Mapping[str, str],
    workers: int = 2,
    ready_path: str = "/",
    log: Path | None = None,
) -> Iterator[str]:
    """Serve ``app`` ("module:attr") on a free loopback port; yields the base URL."""
    port = free_port()
    argv = [
        sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    # A session of its own: stopping kills the supervisor AND its workers, with whatever
    # requests wrk left queued, so the next run starts on an idle server.
    proc = subprocess.Popen(
        argv,
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn {app} exited with {proc.returncode}; see {log}")
            try:
                httpx.get(base + ready_path, timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn {app} did not answer on {base}") from None
                time.sleep(0.2)
        _GROUPS[base] = proc.pid
        yield base
    finally:
        _GROUPS.pop(base, None)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]


@dataclass
class LoadResult:
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx answers + socket errors (connect, read, write, timeout)
    raw: str


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"unparsable wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(output: str) -> LoadResult:
    def grab(pattern: str) -> re.Match[str]:
        m = re.search(pattern, output)
        if m is None:
            raise ValueError(f"wrk output lacks {pattern!r}:\n{output}")
        return m

    total = grab(r"(\d+) requests in ([\d.]+)(us|ms|s|m)")
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        errors += int(m.group(1))
    if m := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        errors += sum(int(g) for g in m.groups())
    return LoadResult(
        requests=int(total.group(1)),
        duration_s=_ms(total.group(2) + total.group(3)) / 1000,
        rps=float(grab(r"Requests/sec:\s+([\d.]+)").group(1)),
        p50_ms=_ms(grab(r"\n\s+50%\s+(\S+)").group(1)),
        p99_ms=_ms(grab(r"\n\s+99%\s+(\S+)").group(1)),
        errors=errors,
        raw=output,
    )


def run_wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    script: Path | None = None,
    env: Mapping[str, str] | None = None,
    threads: int = 2,
) -> LoadResult:
    argv = [
        ensure_wrk(), "--latency", "-t", str(min(threads, connections)), "-c", str(connections),
        "-d", f"{max(1, round(seconds))}s", "--timeout", "10s",
    ]  # fmt: skip
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    done = subprocess.run(
        argv,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    return parse_wrk(done.stdout)


# The Lua scripts: wrk runs one Lua state per thread; ``init`` seeds each differently.
LUA_GET_IDS = r"""
local ids = {}
local token = os.getenv("AMPARO_BENCH_TOKEN")
init = function(args)
  for line in io.lines(os.getenv("AMPARO_BENCH_IDS")) do ids[#ids + 1] = line end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/api/cases/" .. id, {["Authorization"] = "Bearer " .. token})
end
"""

LUA_GET = r"""
local token = os.getenv("AMPARO_BENCH_TOKEN")
wrk.headers["Authorization"] = "Bearer " .. token
"""

# Each intake is a fresh, fictional person: invented names and a random A-number.
LUA_POST_CASE = r"""
local token = os.getenv("AMPARO_BENCH_TOKEN")
local facilities = {}
local given = {"Ana", "José", "Wilner", "Fabiola", "Mei", "Olena", "Kwame", "Tenzin", "Zoë"}
local family = {"García", "Pierre", "Nguyen", "Mensah", "Quispe", "Haddad", "Dolma"}
init = function(args)
  for line in io.lines(os.getenv("AMPARO_BENCH_FACILITIES")) do
    facilities[#facilities + 1] = line
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end
request = function()
  local body = string.format(
    '{"given_name": "%s", "family_name": "%s", "a_number": "A%09d", ' ..
    '"country_of_birth": "GT", "preferred_language": "es", "facility_id": "%s", ' ..
    '"factors": ["community_ties"]}',
    given[math.random(#given)], family[math.random(#family)],
    math.random(0, 999999999), facilities[math.random(#facilities)])
  return wrk.format("POST", "/api/cases", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end
"""


def write_script(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path
