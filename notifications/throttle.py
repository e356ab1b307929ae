"""Per-sender throughput: a token bucket (GCRA form) shared by the worker's send threads.

A US long code carries about one segment a second; exceeding it gets messages queued or
filtered by carriers. Each send reserves ``cost`` tokens (its segments) and sleeps until
they are due, so the achieved rate converges on the configured one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class SenderThrottle:
    def __init__(
        self,
        rate_per_second: float,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate_per_second
        self.burst = max(1.0, burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # Theoretical arrival time of the next token, per sender.
        self._tat: dict[str, float] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def reserve(self, sender: str, cost: float = 1.0) -> float:
        """Reserve ``cost`` tokens for ``sender``; returns how long to wait before sending."""
        if not self.enabled:
            return 0.0
        interval = cost / self.rate
        with self._lock:
            now = self._clock()
            tat = max(self._tat.get(sender, now), now - (self.burst - 1) / self.rate)
            wait = max(0.0, tat - now)
            self._tat[sender] = tat + interval
        return wait

    def acquire(self, sender: str, cost: float = 1.0) -> float:
        wait = self.reserve(sender, cost)
        if wait > 0:
            self._sleep(wait)
        return wait
