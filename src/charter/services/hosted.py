"""The services `charter serve --services` hosts in the server process.

`charter serve --services` starts the platform's service host beside the API:
it subscribes to the admitted readings on the bus, ticks (heartbeats to every
actuator, timers, the two-person `disable_service` and project checks) and
writes each service's state to the store, where `charter services list` reads
it. Which services it hosts is a deployment's choice: each entry of
`FACTORIES` builds one service for the platform (its junctions, zones or
segments come from the deployment's own configuration), or returns None when
the deployment has nothing for it. Append one line per service.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from charter.bootstrap import Platform
from charter.services.base import Service

Factory = Callable[[Platform], Service | None]

FACTORIES: list[Factory] = []


def start(platform: Platform, stop: threading.Event) -> threading.Thread:
    """Host every service the factories build and tick the host until `stop` is set."""
    host = platform.services
    for factory in FACTORIES:
        service = factory(platform)
        if service is not None:
            host.add(service)
    host.start()
    thread = threading.Thread(target=host.run, args=(stop,), daemon=True, name="services")
    thread.start()
    return thread
