"""Topics carry events after they are committed: admitted readings, register changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

Handler = Callable[[str, Any], None]

TOPIC_READINGS = "charter.readings.admitted"
TOPIC_REGISTRY = "charter.registry.changed"


class Bus(Protocol):
    def publish(self, topic: str, message: Any) -> None: ...
    def subscribe(self, topic: str, handler: Handler) -> None: ...
    def has_subscribers(self, topic: str) -> bool: ...
