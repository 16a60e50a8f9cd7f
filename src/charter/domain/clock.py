"""Time is UTC, timezone-aware and injectable, so rules about time are tested without sleeping.

A clock has two sides. `now()` is the wall clock: what is stored, compared
across processes and shown to people; an operator or NTP can step it forwards
or back. `monotonic()` only ever moves forwards, at the pace of real time, and
means something only inside one process: rules that measure a duration inside
a process (rate-limit buckets) use it, so a step of the wall clock neither
pins nor frees them. docs/security.md lists every time rule and its clock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never goes back, unaffected by wall-clock steps."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class FixedClock:
    """A clock that moves only when told to: for tests and simulations.

    `advance` is time passing (both sides move); `step` is the wall clock being
    set (only `now()` moves, forwards or back), as NTP or an operator does. An
    `advance` by a negative delta can only be a step: the monotonic side stays.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware start")
        self._now = start
        self._mono = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, delta: timedelta) -> None:
        self._now += delta
        self._mono += max(0.0, delta.total_seconds())

    def step(self, delta: timedelta) -> None:
        """Set the wall clock forwards (or back, with a negative delta); no time passes."""
        self._now += delta


def to_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch: how the store keeps time."""
    return round(moment.timestamp() * 1000)


def mono_ms(clock: Clock) -> int:
    """The clock's monotonic side in milliseconds: for durations inside one process."""
    return round(clock.monotonic() * 1000)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_ms(ms: int) -> datetime:
    # Exact (no float seconds, which lose the millisecond near year 9999).
    return _EPOCH + timedelta(milliseconds=ms)


# The Gregorian calendar repeats every 400 years, which are exactly 146 097 days.
_ERA_MS = 146_097 * 24 * 3600 * 1000
_Y2K_MS = 946_684_800_000


def iso(ms: int) -> str:
    """RFC 3339 in UTC, e.g. 2026-11-29T12:00:00.000Z.

    Total: a time outside years 1-9999 (which datetime cannot hold, and the gate
    no longer admits) is written with an ISO 8601 expanded year, e.g.
    +10000-01-01T23:58:59.000Z, so a reader never fails on an odd stored time.
    """
    try:
        return from_ms(ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):
        eras = (ms - _Y2K_MS) // _ERA_MS  # shift into 2000-2399, then shift the year back
        text = from_ms(ms - eras * _ERA_MS).isoformat(timespec="milliseconds")
        year = int(text[:4]) + eras * 400
        return f"{year:+05d}{text[4:]}".replace("+00:00", "Z")
