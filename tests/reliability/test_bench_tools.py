"""The benchmark tools the figures depend on: wrk's output parsed right, the summary honest."""

from __future__ import annotations

import pytest

from bench.harness import Result, Section, render, with_summary
from bench.loadgen import parse_wrk

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:41234/api/cases
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.10ms    3.20ms  95.00ms   80.00%
    Req/Sec     2.10k   150.00     2.40k    70.00%
  Latency Distribution
     50%  850.00us
     75%   14.00ms
     90%   20.00ms
     99%    1.20s
  20934 requests in 5.01s, 3.10MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   4178.44
Transfer/sec:    633.10KB
"""


def test_parse_wrk_units_and_errors() -> None:
    r = parse_wrk(WRK_OUTPUT)
    assert r.requests == 20934
    assert r.duration_s == pytest.approx(5.01)
    assert r.rps == pytest.approx(4178.44)
    assert r.p50_ms == pytest.approx(0.85)
    assert r.p99_ms == pytest.approx(1200.0)
    assert r.errors == 7 + 2 + 3


def test_parse_wrk_refuses_output_it_does_not_understand() -> None:
    with pytest.raises(ValueError):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


def test_summary_lists_every_target_met_and_missed_once() -> None:
    sections = [
        Section(
            "API load",
            [
                Result("reads p99", 40.0, "ms", target="< 100 ms", met=True),
                Result("intake", 120.0, "/s", target="≥ 300/s", met=False),
                Result("no target", 1.0, "s"),
            ],
        )
    ]
    text = with_summary(render(sections, quick=True))
    assert "1 met, 1 missed." in text
    assert "| API load | intake | 120 /s | ≥ 300/s | **no** |" in text
    assert "| API load | reads p99 | 40 ms | < 100 ms | yes |" in text
    # Refreshing the summary does not duplicate it.
    assert with_summary(text) == text


def test_server_cpu_counts_the_workers_of_the_server() -> None:
    """CPU per request reads the server's whole process group: the workers do the work."""
    import httpx

    from bench.loadgen import server_cpu_seconds, uvicorn_server

    with uvicorn_server("bench.bare_app:app", env={}, workers=2, ready_path="/json") as base:
        before = server_cpu_seconds(base)
        with httpx.Client() as client:
            for _ in range(3000):
                assert client.get(base + "/json").status_code == 200
        used = server_cpu_seconds(base) - before
    # 3,000 requests cost the server well over two clock ticks (300 measured 0.02 s, right at
    # the bound, on a quiet machine), and far less than 30 s.
    assert 0.02 < used < 30
