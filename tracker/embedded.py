"""The embedded default: the clock and the outbox worker as threads beside the web server."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

# (module, function): each function starts its loop in the background and returns a stop().
STARTERS: tuple[tuple[str, str], ...] = (
    ("jobs.clock", "start_in_background"),
    ("tracker.embedded", "start_worker"),
)


def start_worker() -> Callable[[], None]:
    """The SMS worker, wired to the services' reactions (the dispatcher is a library)."""
    from notifications.dispatcher import start_in_background
    from tracker.services.delivery import REACTIONS
    from tracker.settings import get_settings

    return start_in_background(get_settings(), REACTIONS)


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
