"""Embedded mode starts both loops or fails: never a server that silently sends no SMS."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from jobs import clock
from notifications import dispatcher
from tracker import embedded
from tracker.settings import get_settings


def _fake_clock(events: list[str]) -> Callable[..., Callable[[], None]]:
    def start(settings: object) -> Callable[[], None]:
        events.append("clock started")
        return lambda: events.append("clock stopped")

    return start


def test_a_worker_that_cannot_start_fails_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    monkeypatch.setattr(clock, "start_in_background", _fake_clock(events))

    def broken(*_: object) -> Callable[[], None]:
        raise RuntimeError("no transport")

    monkeypatch.setattr(dispatcher, "start_in_background", broken)
    with pytest.raises(RuntimeError, match="no transport"):
        embedded.start(get_settings())
    # What had started is stopped again: no clock left running behind the failure.
    assert events == ["clock started", "clock stopped"]


def test_both_loops_start_and_stop_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    monkeypatch.setattr(clock, "start_in_background", _fake_clock(events))

    def worker(*_: object) -> Callable[[], None]:
        events.append("worker started")
        return lambda: events.append("worker stopped")

    monkeypatch.setattr(dispatcher, "start_in_background", worker)
    loops = embedded.start(get_settings())
    assert loops.clock_started_at is not None
    loops.stop()
    loops.stop()  # idempotent
    assert events == ["clock started", "worker started", "clock stopped", "worker stopped"]
