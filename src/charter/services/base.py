"""What a city service is: declared inputs, its state, and the commands it asks for."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True, slots=True)
class Reading:
    """One admitted, non-personal reading as a service sees it."""

    device_id: str
    project_id: str
    category: str
    observed_at_ms: int
    received_at_ms: int
    seq: int
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Intent:
    """A command a service asks for; the host signs it and sends it."""

    target: str  # the actuator's device URN
    action: str
    params: dict[str, Any] = field(default_factory=dict)


class Service(ABC):
    """A consumer of admitted data. Subclasses keep their own state."""

    #: The service's name on the algorithm register.
    name: str
    #: The data categories it consumes; its register entry must list each.
    categories: frozenset[str]
    #: Personal categories it consumes, each with the one purpose it uses it for: it
    #: receives only readings whose resident consents to that purpose, minimised to a
    #: pseudonym (`rights/feed.py`). Empty: it receives nothing personal.
    purposes: Mapping[str, str] = MappingProxyType({})

    @property
    @abstractmethod
    def actuators(self) -> Sequence[str]:
        """The device URNs of the actuators it commands."""

    @abstractmethod
    def on_readings(self, readings: Sequence[Reading], now_ms: int) -> list[Intent]:
        """Take newly admitted readings; return the commands they call for."""

    def on_tick(self, now_ms: int) -> list[Intent]:
        """Called periodically (timers, expiries); no commands by default."""
        return []

    def on_register_version(self, version: int) -> None:  # noqa: B027 - optional hook
        """Called by the host before each batch or tick it feeds the service, with the
        register's version it read for that batch (`Store.read_register_version`): a
        service keeping in-memory copies of the register checks them against it here,
        without a read of its own."""

    def after_send(self) -> None:  # noqa: B027 - optional hook
        """Called by the host right after it sent the commands of one batch or tick, in
        the same batch: where a service puts what it decided on the record (durable
        before the batch's `ingest` returns, and off the decision's latency)."""

    def report(self) -> dict[str, Any]:
        """What the operator should see in the service's state (flagged sensors, …)."""
        return {}

    def on_stop(self) -> None:  # noqa: B027 - optional hook
        """Called when the host stops feeding the service (project retired, disabled)."""
