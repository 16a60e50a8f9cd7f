"""When did an envelope reach the platform's door? (MQTT and JetStream)

Over HTTP the door is the gate itself: an envelope is judged (rate limit,
freshness) the moment it arrives and refused with 429 before anything is
acknowledged. Over MQTT the broker acknowledges (PUBACK) when it takes a
message; the gateway may see it much later (it was away, or the stream behind
it was), and the device will never send it again. Judging such an envelope
at the time it is finally worked off would refuse an honest backlog, after its
acknowledgement, as too fast or too old. So the gate judges each envelope at
its arrival at the door, which the transports estimate here:

* the gateway, connected, takes a message almost as soon as the broker does:
  its own receipt time is the arrival;
* a message sent before the gateway's current connection came up may have
  waited at the broker since the gateway went away (`Arrival.lost_at`): its
  arrival is its sent_at, but not before the gateway went away and not after
  the gateway got it. A gateway that starts does not know when it went away;
  the broker keeps its session at most `mqtt_session_expiry_s`, which bounds it;
* the gateway puts that time on the JetStream message (`ARRIVED`), so a worker
  that takes it from a backlog judges it as the gateway would have.

A device cannot gain allowance by claiming an early sent_at: the estimate
never passes the gateway's receipt, and a device's token bucket never runs
backwards, so an earlier time refills nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

import msgspec

from charter.bus.nats import ARRIVED
from charter.domain.clock import to_ms

__all__ = ["ARRIVED", "Arrival", "Head", "arrived_header", "now_ms", "read_head", "sent_at_ms"]


class Head(msgspec.Struct):
    """What the gateway reads of an envelope: who sent it, which, and when."""

    device: str
    seq: int
    sent_at: datetime


class _Signed(msgspec.Struct):
    envelope: Head


_decode_head = msgspec.json.Decoder(_Signed).decode


def read_head(body: bytes) -> Head | None:
    """The envelope's head (readings are skipped, not built), or None if unreadable."""
    try:
        return _decode_head(body).envelope
    except (msgspec.DecodeError, RecursionError, ValueError):
        return None


def sent_at_ms(body: bytes) -> int | None:
    head = read_head(body)
    return None if head is None else to_ms(head.sent_at)


def now_ms() -> int:
    return int(time.time() * 1000)


class Arrival:
    """The gateway's connection history, which bounds when the broker took a message.

    Times are read from `clock` (ms): the platform's clock when the gateway runs
    the gate itself, the system's when it hands on to JetStream.
    """

    def __init__(
        self,
        session_expiry_s: float,
        started_ms: int | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.clock = clock or now_ms
        start = started_ms if started_ms is not None else self.clock()
        # Before its first connection the gateway was away since at most the
        # broker's session expiry (the broker forgets the session after that).
        self.lost_at = start - int(session_expiry_s * 1000)
        self.up_since = start
        self._lock = threading.Lock()

    def connected(self, at_ms: int | None = None) -> None:
        with self._lock:
            self.up_since = at_ms if at_ms is not None else self.clock()

    def disconnected(self, at_ms: int | None = None) -> None:
        with self._lock:
            self.lost_at = at_ms if at_ms is not None else self.clock()

    def of(self, body: bytes, received_ms: int) -> int:
        """The envelope's arrival at the broker, as well as the gateway can tell."""
        return self.at(sent_at_ms(body), received_ms)

    def at(self, sent: int | None, received_ms: int) -> int:
        with self._lock:
            lost_at, up_since = self.lost_at, self.up_since
        if sent is None or sent > up_since:
            return received_ms  # unreadable (the gate says why), or sent while connected
        return min(received_ms, max(sent, lost_at))


def arrived_header(value: str | None, stored_ms: int) -> int:
    """The arrival a gateway put on a JetStream message, else the stream's own time.

    Never later than the stream stored the message: the door came before it.
    """
    if value is not None and value.isdigit():
        return min(int(value), stored_ms)
    return stored_ms
