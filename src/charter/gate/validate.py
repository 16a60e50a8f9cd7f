"""Stage 5, validate: each value has the type, unit and range its category declares,
and each reading was observed at a plausible time.

A plausible time is bounded twice: against the envelope's sent_at (a device
buffers for a while, and cannot observe after it sends) and against the
platform's clock when the envelope arrived (received_at: a replayed envelope
keeps its arrival time) and a fixed floor. The second bound holds whatever the
device claims in sent_at, so the store only ever holds times between the floor
and the platform's clock, which both stores and every reader can represent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from charter.domain.clock import to_ms
from charter.domain.reasons import Reason
from charter.gate.batch import FRESHNESS, Batch, EnvelopeItem
from charter.gate.directory import CategoryRule

STAGE = "validate"
# No reading of this platform was observed before 2000: earlier is a device's reset clock.
FLOOR_MS = to_ms(datetime(2000, 1, 1, tzinfo=UTC))


@dataclass(frozen=True)
class ReadingWindow:
    """How far a reading's time may lie from its envelope's sent_at and from the
    platform's clock at arrival, in milliseconds."""

    max_age_ms: int = 7 * 24 * 3600 * 1000  # devices buffer while offline
    max_skew_ms: int = 60 * 1000
    floor_ms: int = FLOOR_MS


def check_values(
    values: dict[str, object], units: dict[str, str] | None, rule: CategoryRule
) -> tuple[Reason, str] | None:
    """The first problem with a reading's values, or None. Names fields, never values."""
    fields = rule.fields
    found = False
    for name, value in values.items():
        spec = fields.get(name)
        if spec is None:
            continue  # not declared: minimise drops it
        found = True
        if type(value) not in spec.types:
            return Reason.WRONG_TYPE, f"field {name!r} must be {_kind(spec.types)}"
        if spec.numeric:
            if type(value) is float and not math.isfinite(value):
                return Reason.NON_FINITE, f"field {name!r} is not finite"
            if not spec.minimum <= value <= spec.maximum:  # type: ignore[operator]
                return Reason.OUT_OF_RANGE, f"field {name!r} is outside its declared range"
        elif type(value) is str and len(value) > spec.max_length:
            return Reason.OUT_OF_RANGE, f"field {name!r} is longer than {spec.max_length}"
        if units is not None and spec.unit is not None:
            unit = units.get(name)
            if unit is not None and unit != spec.unit:
                return Reason.WRONG_UNIT, f"field {name!r} must be in {spec.unit}"
    if not found:
        return Reason.INVALID_READING, "the reading carries none of the declared fields"
    return None


def _kind(types: tuple[type, ...]) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "a boolean"}[types[-1]]


class Validate:
    def __init__(self, window: ReadingWindow) -> None:
        self.window = window

    def __call__(self, batch: Batch) -> None:
        for item in batch.live():
            self.one(item)

    def one(self, item: EnvelopeItem) -> None:
        env, view = item.envelope, item.device
        assert env is not None and view is not None
        w = self.window
        sent = to_ms(env.sent_at)
        # The platform's clock bounds the future whatever sent_at says (a replay
        # does not check sent_at against the clock again); nothing overrides it.
        arrived = item.received_at + w.max_skew_ms
        latest = min(sent + w.max_skew_ms, arrived)
        earliest = w.floor_ms
        if item.override != FRESHNESS:
            earliest = max(earliest, sent - w.max_age_ms)
        observed = item.observed = [0] * len(item.readings)
        declared = view.declared
        for i in item.open_readings():
            reading = item.readings[i]
            assert reading is not None
            t = observed[i] = to_ms(reading.t)
            if t > latest:
                after_sent = t > sent + w.max_skew_ms
                late = "observed after sent_at" if after_sent else "observed after it arrived"
                item.reject_reading(i, STAGE, Reason.FUTURE_TIMESTAMP, late)
                continue
            if t < earliest:
                early = "observed before the floor" if t < w.floor_ms else "observed too long ago"
                item.reject_reading(i, STAGE, Reason.STALE_TIMESTAMP, early)
                continue
            problem = check_values(reading.values, reading.units, declared[reading.category])
            if problem is not None:
                item.reject_reading(i, STAGE, *problem)
