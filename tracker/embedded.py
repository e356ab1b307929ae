"""The embedded default: the clock and the outbox worker as threads beside the web server."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

# (module, function): each function starts its loop in the background and returns a stop().
STARTERS: tuple[tuple[str, str], ...] = (
    ("jobs.clock", "start_in_background"),
    ("notifications.dispatcher", "start_in_background"),
)


def start() -> list[Callable[[], None]]:
    stops: list[Callable[[], None]] = []
    for module_name, function in STARTERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            log.warning("embedded: %s is not available; not started", module_name)
            continue
        stops.append(getattr(module, function)())
        log.info("embedded: started %s", module_name)
    return stops
