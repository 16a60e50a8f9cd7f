"""A small real service and actuator for testing the services framework."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from charter.bootstrap import Platform
from charter.commands.command import Command
from charter.domain.algorithm import AlgorithmEntry, Figure, Risk
from charter.domain.clock import Clock
from charter.domain.model import Actor
from charter.services.actuator import Actuator
from charter.services.base import Intent, Reading, Service
from charter.sim import city as sample

OPERATOR = Actor(name="test-operator", role="operator")
SIGNAL = "urn:ngsi-ld:Device:signal-1"


class QueueService(Service):
    """Asks the signal for a longer green when a loop counts a queue."""

    name = "queue-green"
    categories = frozenset({"traffic.count"})

    def __init__(self, threshold: int = 20) -> None:
        self.threshold = threshold
        self.seen: list[Reading] = []
        self.stopped = 0

    @property
    def actuators(self) -> Sequence[str]:
        return [SIGNAL]

    def on_readings(self, readings: Sequence[Reading], now_ms: int) -> list[Intent]:
        self.seen.extend(readings)
        busy = [r for r in readings if r.values["vehicles"] >= self.threshold]
        if not busy:
            return []
        return [Intent(SIGNAL, "signal.extend_green", {"seconds": 10})]

    def on_stop(self) -> None:
        self.stopped += 1


class SignalController(Actuator):
    """A controller that runs remote timing or, alone, its fixed-time plan."""

    def __init__(self, platform_key_b64: str, clock: Clock) -> None:
        super().__init__(SIGNAL, platform_key_b64, clock, timedelta(seconds=3))
        self.applied: list[Command] = []
        self.mode = "fixed-time"

    def apply(self, cmd: Command) -> None:
        self.applied.append(cmd)

    def enter_safe_mode(self, why: str) -> None:
        self.mode = "fixed-time"

    def leave_safe_mode(self) -> None:
        self.mode = "remote"


def entry(data_used: list[str] | None = None, project: str = sample.TRAFFIC) -> AlgorithmEntry:
    return AlgorithmEntry(
        service="queue-green",
        project_id=project,
        name="Longer green for queues",
        purpose="Clear queues at the crossing's approach sooner.",
        data_used=data_used or ["traffic.count"],
        how_it_decides="When a loop counts 20 vehicles or more a minute, green is extended 10 s.",
        human_oversight="Traffic engineers review the extensions weekly and can disable it.",
        risks=[Risk(risk="Longer waits on the side road.", mitigation="Maximum green capped.")],
        figures=[Figure(name="extensions per day", value=0, measured_by="tests")],
        actuators=["signal controller"],
        accountable="Traffic department",
        contact="traffic@example.org",
    )


def host_with_signal(
    platform: Platform, monotonic: Callable[[], float] | None = None
) -> tuple[QueueService, SignalController]:
    """The service on the register and hosted, its controller attached to the channel."""
    if monotonic is not None:
        platform.services.monotonic = monotonic
    if platform.store.get_algorithm("queue-green") is None:
        platform.algorithms.register(entry(), OPERATOR, "queue service")
    service = QueueService()
    controller = SignalController(platform.security.commands.public_key_b64, platform.clock)
    platform.services.channel.attach(controller)  # type: ignore[attr-defined]
    platform.services.add(service)
    platform.services.start()
    return service, controller
