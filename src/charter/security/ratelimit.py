"""Token buckets per key (a device, a token): one flooder cannot starve the others.

A bucket refills on the clock's monotonic side, never on the wall clock: a step
of the wall clock forwards would otherwise pin a bucket (no refill until real
time caught up with the last take) and a step back would hand out a full burst.
The clock is injected, so tests need no sleeping. The map of buckets is bounded:
the least recently seen keys go first.

The buckets live in this process's memory: each gate or API process keeps its
own, so with N processes a key may get up to N times the rate and burst (see
docs/scaling.md). A restart refills them.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

from charter.domain.clock import Clock, mono_ms
from charter.domain.errors import CharterError
from charter.domain.reasons import Reason


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at_ms: int


class RateLimiter:
    def __init__(
        self, rate_per_s: float, burst: int, clock: Clock, *, max_keys: int = 100_000
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.clock = clock
        self.rate_per_ms = rate_per_s / 1000.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, key: str) -> int:
        """Like `take` but spends nothing: 0 if a token is free now."""
        now_ms = mono_ms(self.clock)
        with self._lock:
            b = self._buckets.get(key)
            if b is None:
                return 0
            tokens = min(self.burst, b.tokens + max(0, now_ms - b.at_ms) * self.rate_per_ms)
            if tokens >= 1.0:
                return 0
            return max(1, math.ceil((1.0 - tokens) / self.rate_per_ms / 1000.0))

    def take(self, key: str) -> int:
        """Take one token: 0 if allowed, else how many seconds until one is free (≥ 1)."""
        now_ms = mono_ms(self.clock)
        with self._lock:
            b = self._buckets.get(key)
            if b is None:
                b = _Bucket(self.burst, now_ms)
                self._buckets[key] = b
                if len(self._buckets) > self.max_keys:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
                elapsed = max(0, now_ms - b.at_ms)
                b.tokens = min(self.burst, b.tokens + elapsed * self.rate_per_ms)
                b.at_ms = max(b.at_ms, now_ms)
            if b.tokens >= 1.0:
                b.tokens -= 1.0
                return 0
            missing_ms = (1.0 - b.tokens) / self.rate_per_ms
            return max(1, math.ceil(missing_ms / 1000.0))


def retry_detail(wait_s: int) -> str:
    return f"retry after {wait_s} s"


def retry_after(detail: str) -> int:
    """The seconds named by `retry_detail`, 1 if none."""
    parts = detail.split()
    return int(parts[2]) if len(parts) == 4 and parts[2].isdigit() else 1


class RateLimited(CharterError):
    def __init__(self, wait_s: int) -> None:
        super().__init__(Reason.RATE_LIMITED, retry_detail(wait_s))
        self.extra = {"retry_after": wait_s}
