"""Pure parts: quiet-hour windows, the per-sender token bucket, Twilio error classes, backoff."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from notifications import inbound, quiet
from notifications.dispatcher import backoff_seconds
from notifications.throttle import SenderThrottle
from notifications.twilio import classify


def test_quiet_window_across_midnight_in_the_local_zone() -> None:
    window = quiet.parse("21:00-08:00")
    zone = "America/Chicago"
    # 20:59 CST: not quiet. 21:00 CST: quiet until 08:00 CST next day (14:00 UTC).
    assert quiet.release_at(datetime(2026, 1, 15, 2, 59, tzinfo=UTC), zone, window) is None
    assert quiet.release_at(datetime(2026, 1, 15, 3, 0, tzinfo=UTC), zone, window) == datetime(
        2026, 1, 15, 14, 0, tzinfo=UTC
    )
    # 03:00 CST: quiet until 08:00 the same day.
    assert quiet.release_at(datetime(2026, 1, 15, 9, 0, tzinfo=UTC), zone, window) == datetime(
        2026, 1, 15, 14, 0, tzinfo=UTC
    )
    assert quiet.release_at(datetime(2026, 1, 15, 14, 0, tzinfo=UTC), zone, window) is None


def test_quiet_window_over_a_dst_change() -> None:
    window = quiet.parse("21:00-08:00")
    # 2026-03-08 is the US spring-forward night: 08:00 CDT is 13:00 UTC.
    night = datetime(2026, 3, 8, 4, 0, tzinfo=UTC)  # 22:00 CST on the 7th
    assert quiet.release_at(night, "America/Chicago", window) == datetime(
        2026, 3, 8, 13, 0, tzinfo=UTC
    )


@pytest.mark.parametrize("spec", ["off", "", "OFF", "08:00-08:00"])
def test_quiet_hours_can_be_off(spec: str) -> None:
    assert quiet.parse(spec) is None


@pytest.mark.parametrize("spec", ["9pm-8am", "25:00-08:00", "21:00"])
def test_bad_quiet_hours_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        quiet.parse(spec)


def test_only_non_urgent_family_kinds_wait() -> None:
    assert quiet.applies("decision_denied", urgent=False)
    assert not quiet.applies("decision_denied", urgent=True)
    assert not quiet.applies("removal_imminent", urgent=False)


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def test_token_bucket_spaces_sends_per_sender() -> None:
    fake = FakeTime()
    bucket = SenderThrottle(4.0, clock=fake.clock, sleep=fake.sleep)
    start = fake.t
    for _ in range(9):
        bucket.acquire("MGaaa")
    # Nine sends at 4/s: the ninth goes 2 s after the first.
    assert fake.t - start == pytest.approx(2.0)
    # Another sender has its own bucket.
    assert bucket.reserve("+12025550100") == 0.0


def test_token_bucket_counts_segments_and_can_be_off() -> None:
    fake = FakeTime()
    bucket = SenderThrottle(1.0, clock=fake.clock, sleep=fake.sleep)
    bucket.acquire("s", cost=3)
    assert bucket.reserve("s") == pytest.approx(3.0)
    assert SenderThrottle(0.0).reserve("s", 100) == 0.0


@pytest.mark.parametrize(
    ("status", "code", "permanent", "opted_out", "bad_number"),
    [
        (400, "21610", True, True, False),
        (400, "21211", True, False, True),
        (400, "21614", True, False, True),
        (400, "21408", True, False, False),
        (400, "21602", True, False, False),
        (429, "20429", False, False, False),
        (429, None, False, False, False),
        (500, None, False, False, False),
        (503, "20503", False, False, False),
        (401, "20003", False, False, False),
    ],
)
def test_twilio_errors_are_classified(
    status: int, code: str | None, permanent: bool, opted_out: bool, bad_number: bool
) -> None:
    error = classify(status, code, "message", None)
    assert (error.permanent, error.opted_out, error.bad_number) == (
        permanent,
        opted_out,
        bad_number,
    )
    assert str(status) in error.message


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    delays = [backoff_seconds(n, 10, 600, rng) for n in range(1, 12)]
    assert all(5 <= d <= 600 for d in delays)
    assert max(delays[:2]) <= 20 and max(delays[-3:]) > 100
    assert len({round(d, 3) for d in delays}) == len(delays)


@pytest.mark.parametrize(
    ("body", "whole", "first"),
    [
        ("Stop", "STOP", "STOP"),
        ("  stop. ", "STOP", "STOP"),
        ("ÈD", "ED", "ED"),
        ("ok thanks!", "OK THANKS", "OK"),
        ("Sí", "SI", "SI"),
        ("", "", ""),
    ],
)
def test_keywords_are_read_leniently(body: str, whole: str, first: str) -> None:
    assert inbound.keyword(body) == (whole, first)


def test_a_sentence_with_stop_in_it_is_not_an_opt_out() -> None:
    whole, _ = inbound.keyword("please stop by tomorrow")
    assert whole not in inbound.STOP_WORDS
