"""NATS and JetStream: the bus when Charter runs as many processes.

Transports put signed envelopes on a JetStream stream (`<prefix>.ingest`),
each with a `Nats-Msg-Id` (a hash of the envelope's bytes) so the stream drops
a second copy inside its duplicate window. Gate workers consume the stream
through one durable pull consumer they all share. Committed events flow on
plain subjects: `<prefix>.events.<topic>` for the Bus topics (admitted
readings, register changes) and `<prefix>.committed` for "these messages are
stored", which tells the MQTT gateway it may acknowledge its devices.

nats-py is asyncio; Charter's components are synchronous. `NatsLink` runs the
client on an event loop in a thread of its own and offers blocking calls.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import threading
from collections import defaultdict
from collections.abc import Awaitable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

from charter.bus.base import Handler

log = logging.getLogger(__name__)
T = TypeVar("T")
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

MSG_ID = "Nats-Msg-Id"
DURABLE = "gate"


@dataclass(frozen=True)
class Subjects:
    """Every name Charter uses on NATS, under one prefix (one city, one test)."""

    prefix: str = "charter"

    @property
    def ingest(self) -> str:
        return f"{self.prefix}.ingest"

    @property
    def committed(self) -> str:
        return f"{self.prefix}.committed"

    @property
    def stream(self) -> str:
        return re.sub(r"[^A-Za-z0-9_-]", "_", self.prefix).upper() + "_INGEST"

    def event(self, topic: str) -> str:
        return f"{self.prefix}.events.{topic}"


def message_id(body: bytes) -> str:
    """The deduplication id of an envelope: the same bytes, the same id."""
    return hashlib.sha256(body).hexdigest()[:32]


class NatsLink:
    """One NATS connection on its own event loop thread, with blocking calls."""

    def __init__(self, url: str, *, name: str = "charter") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="nats", daemon=True)
        self._thread.start()
        self.nc: Client = self.call(
            nats.connect(
                url,
                name=name,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.2,
                connect_timeout=5,
                allow_reconnect=True,
            )
        )
        self.js: JetStreamContext = self.nc.jetstream()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30) -> T:
        """Run a coroutine on the link's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def soon(self, coro: Awaitable[Any]) -> None:
        """Start a coroutine on the link's loop without waiting (fire and forget)."""

        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("NATS call failed")

        self.loop.call_soon_threadsafe(lambda: self.loop.create_task(run()))

    def close(self) -> None:
        if self.loop.is_closed():
            return

        async def shut() -> None:
            try:
                await self.nc.flush(timeout=2)
            finally:
                await self.nc.close()

        try:
            self.call(shut(), timeout=10)
        except Exception:
            log.warning("NATS connection did not close cleanly")

        async def cancel_rest() -> None:
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        try:
            self.call(cancel_rest(), timeout=5)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
            self.loop.close()


async def ensure_stream(js: JetStreamContext, subjects: Subjects, replicas: int = 1) -> None:
    """The ingest stream (a work queue on disk) and the workers' shared durable consumer."""
    config = StreamConfig(
        name=subjects.stream,
        subjects=[subjects.ingest],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=120.0,
        num_replicas=replicas,
    )
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError:
        await js.update_stream(config)


def consumer_config(ack_wait_s: float, max_ack_pending: int = 20_000) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=DURABLE,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_s,
        max_ack_pending=max_ack_pending,
        max_waiting=512,
    )


class NatsBus:
    """The Bus over NATS subjects: every subscriber, in any process, hears every event.

    Events are encoded as JSON (tuples become lists). Handlers run on the
    link's loop thread; a failing handler is logged, never re-raised.
    """

    def __init__(self, link: NatsLink, subjects: Subjects) -> None:
        self.link, self.subjects = link, subjects
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def publish(self, topic: str, message: Any) -> None:
        subject = self.subjects.event(topic)
        for payload in self._payloads(message, int(self.link.nc.max_payload * 0.9)):
            self.link.soon(self.link.nc.publish(subject, payload))

    @staticmethod
    def _payloads(message: Any, limit: int) -> list[bytes]:
        """The message as one payload, or a list cut into parts under the server's limit.

        Each part is encoded once: its size is estimated from a sample of items.
        """
        if not isinstance(message, list) or len(message) < 2:
            return [_encode(message)]
        sample = _encode(message[:50])
        per_item = max(1.0, len(sample) / min(50, len(message)))
        size = max(1, int(limit * 0.8 / per_item))
        parts: list[bytes] = []
        i = 0
        while i < len(message):
            chunk = message[i : i + size]
            data = _encode(chunk)
            if len(data) > limit and len(chunk) > 1:
                size = max(1, size // 2)  # denser items than the sample: smaller parts
                continue
            parts.append(data)
            i += len(chunk)
        return parts

    def subscribe(self, topic: str, handler: Handler) -> None:
        first = not self._handlers[topic]
        self._handlers[topic].append(handler)
        if first:
            self.link.call(self.link.nc.subscribe(self.subjects.event(topic), cb=self._deliver))
            self.link.call(self.link.nc.flush())

    def close(self) -> None:
        self.link.close()

    def has_subscribers(self, topic: str) -> bool:
        # Subscribers live in other processes too: events always flow.
        return True

    async def _deliver(self, msg: Msg) -> None:
        topic = msg.subject.removeprefix(self.subjects.event(""))
        for handler in list(self._handlers.get(topic, ())):
            try:
                handler(topic, _decode(msg.data))
            except Exception:
                log.exception("bus handler failed on topic %s", topic)


ARRIVED = "Charter-Arrived-Ms"  # when the door (the MQTT broker) took the envelope


def publish_envelopes(
    link: NatsLink,
    subjects: Subjects,
    bodies: list[bytes],
    arrived_ms: Sequence[int | None] | None = None,
    timeout: float = 10,
) -> list[bool]:
    """Put envelopes on the ingest stream; returns, per envelope, whether it was a duplicate.

    `arrived_ms`: when each reached the platform's door, for the workers to
    judge rate and freshness at (see `charter.transport.arrival`).
    """

    def headers(i: int, b: bytes) -> dict[str, str]:
        h = {MSG_ID: message_id(b)}
        at = None if arrived_ms is None else arrived_ms[i]
        if at is not None:
            h[ARRIVED] = str(at)
        return h

    async def run() -> list[bool]:
        acks = await asyncio.gather(
            *(
                link.js.publish(subjects.ingest, b, timeout=timeout, headers=headers(i, b))
                for i, b in enumerate(bodies)
            )
        )
        return [bool(a.duplicate) for a in acks]

    return link.call(run(), timeout=timeout + 5)
