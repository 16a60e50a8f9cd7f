"""The fail-safe contract every actuator keeps (specified here, built by the city services).

1. An actuator hears from the platform at least every `heartbeat_s` (a signed
   command or a signed heartbeat).
2. If it hears nothing valid for `max_silence_s`, it enters its safe local mode
   by itself, within that bounded time: a signal controller runs its fixed-time
   plan, a heater its local thermostat, an alert channel keeps its last
   verified message and its local siren trigger.
3. In safe mode it refuses nothing that is safe and accepts no remote command
   except a verified one; it leaves safe mode only on a verified command.
4. Losing the platform, a vendor or a token never switches an actuator off: the
   safe mode is a working mode, not a stop.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from charter.domain.clock import Clock


class SafeMode(Protocol):
    """What an actuator does on its own when it loses the platform."""

    def enter_safe_mode(self, why: str) -> None: ...
    def leave_safe_mode(self) -> None: ...


class Watchdog:
    """Trips the actuator into safe mode when the platform has been silent too long."""

    def __init__(self, actuator: SafeMode, clock: Clock, max_silence: timedelta) -> None:
        self.actuator, self.clock, self.max_silence = actuator, clock, max_silence
        self._last = clock.now()
        self.safe = False

    def heard(self) -> None:
        """Call on every verified command or heartbeat."""
        self._last = self.clock.now()
        if self.safe:
            self.safe = False
            self.actuator.leave_safe_mode()

    def tick(self) -> bool:
        """Call periodically (at most max_silence / 2 apart); True while in safe mode."""
        if not self.safe and self.clock.now() - self._last >= self.max_silence:
            self.safe = True
            self.actuator.enter_safe_mode(f"no word from the platform for {self.max_silence}")
        return self.safe
