"""The embedded default: the clock and the outbox worker as threads beside the web server.

Both loops are imported and started here by name. If either fails to import or to start,
``start`` raises (having stopped whatever it had started): a server that ran without its
clock or its SMS worker would look healthy while nobody is alerted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from jobs import clock
from notifications import dispatcher
from tracker.services import delivery
from tracker.settings import Settings
from tracker.types import utcnow

log = logging.getLogger(__name__)


@dataclass
class Loops:
    """The background loops this process runs; ``clock_started_at`` goes to the health check
    (``create_app(..., clock_started_at=...)``) so that a clock that never beats is reported."""

    clock_started_at: datetime
    stops: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        # In start order: the clock stops queueing before the worker stops sending.
        for stop in self.stops:
            stop()
        self.stops.clear()


def start(settings: Settings) -> Loops:
    loops = Loops(clock_started_at=utcnow())
    try:
        loops.stops.append(clock.start_in_background(settings))
        log.info("embedded: started the clock")
        loops.stops.append(dispatcher.start_in_background(settings, delivery.REACTIONS))
        log.info("embedded: started the SMS worker")
    except BaseException:
        loops.stop()
        raise
    return loops
