"""The in-process bus: handlers run in the publisher's thread, after commit."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from charter.bus.base import Handler

log = logging.getLogger(__name__)


class InProcessBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic].append(handler)

    def has_subscribers(self, topic: str) -> bool:
        return bool(self._handlers.get(topic))

    def publish(self, topic: str, message: Any) -> None:
        for handler in list(self._handlers.get(topic, ())):
            try:
                handler(topic, message)
            except Exception:
                # A failing subscriber must not undo or block what was committed.
                # The message itself may hold personal data, so it is not logged.
                log.exception("bus handler failed on topic %s", topic)
