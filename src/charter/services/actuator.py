"""The actuator's side of every command: verify, act, and stay safe alone.

An actuator is a registered device with its own key; it holds the platform's
command key and verifies every command before it acts (`commands/verifier.py`).
It keeps the fail-safe contract (`commands/failsafe.py`): if nothing valid
arrives for `max_silence`, it runs its own safe local mode (a fixed-time plan,
a thermostat, the last alert) and leaves it only on a verified command.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import timedelta
from typing import Protocol

from charter.commands.command import Command
from charter.commands.failsafe import Watchdog
from charter.commands.verifier import CommandRefused, CommandVerifier
from charter.domain.clock import Clock

HEARTBEAT = "heartbeat"


class Actuator(ABC):
    def __init__(
        self, device_id: str, platform_key_b64: str, clock: Clock, max_silence: timedelta
    ) -> None:
        self.device_id = device_id
        self.verifier = CommandVerifier(device_id, platform_key_b64, clock)
        self.watchdog = Watchdog(self, clock, max_silence)
        # It starts on its own (safe) mode and joins on the first verified command.
        self.watchdog.safe = True
        self.refused: dict[str, int] = {}  # refusal code → count, for the operator

    @property
    def state(self) -> str:
        return "safe" if self.watchdog.safe else "remote"

    def receive(self, wire: bytes) -> Command | None:
        """Verify and act on one command; a refused one changes nothing."""
        try:
            cmd = self.verifier.verify(wire)
        except CommandRefused as refused:
            code = refused.refusal.code
            self.refused[code] = self.refused.get(code, 0) + 1
            return None
        self.watchdog.heard()
        if cmd.action != HEARTBEAT:
            self.apply(cmd)
        return cmd

    def tick(self) -> bool:
        """The actuator's own clock tick; True while in safe mode."""
        return self.watchdog.tick()

    @abstractmethod
    def apply(self, cmd: Command) -> None:
        """Carry out a verified command."""

    @abstractmethod
    def enter_safe_mode(self, why: str) -> None: ...

    @abstractmethod
    def leave_safe_mode(self) -> None: ...


class Channel(Protocol):
    """How signed commands reach actuators (in process, a radio, a broker)."""

    def send(self, target: str, wire: bytes) -> None: ...


class InProcessChannel:
    """Delivers commands to actuators in this process (the demo, tests, simulations)."""

    def __init__(self) -> None:
        self.actuators: dict[str, Actuator] = {}
        self.up = True  # set False to cut the link (an outage)

    def attach(self, actuator: Actuator) -> None:
        self.actuators[actuator.device_id] = actuator

    def send(self, target: str, wire: bytes) -> None:
        actuator = self.actuators.get(target)
        if self.up and actuator is not None:
            actuator.receive(wire)
