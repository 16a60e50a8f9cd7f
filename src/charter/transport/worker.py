"""`charter worker`: a stateless gate worker on the JetStream ingest stream.

Any number of workers, in as many processes on as many machines as needed,
pull from one durable consumer they share. Each takes a batch, runs the gate
(one transaction), and only after the commit acknowledges the messages and
announces them on `<prefix>.committed`. A worker that dies before its ack
leaves its messages to be redelivered to another worker after `ack_wait`.

Exactly-once effect: the stream drops duplicates by message id, a redelivered
envelope whose sequence number is already used is acknowledged as done (see
`redelivery`), and two workers racing on one device's sequence number cannot
both commit (`SequenceConflict`: the loser decides its batch again).

A poison envelope (one the gate fails on with an unexpected error, not a
refusal) never holds back the rest: the failing batch is decided again one
envelope at a time, the others are committed and acked, and the poison one is
handed back with a growing delay (at most `HOLD_MAX_S`). It is never dropped:
the device has its acknowledgement, so it stays on the stream, counted in
`poisoned` and logged by message id (never its content) for an operator.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import nats.errors
from nats.aio.msg import Msg
from sqlalchemy.exc import DBAPIError

from charter.bootstrap import Platform
from charter.bus.nats import (
    ARRIVED,
    DURABLE,
    MSG_ID,
    NatsLink,
    Subjects,
    consumer_config,
    ensure_stream,
    message_id,
)
from charter.gate.batch import Batch, Outcome
from charter.runtime import settle_heap
from charter.transport.arrival import arrived_header
from charter.transport.redelivery import deliver

log = logging.getLogger(__name__)
FILL_S = 0.01
NAK_DELAY_S = 0.5
HOLD_MAX_S = 60.0
_encode = msgspec.json.Encoder().encode


@dataclass
class WorkerStats:
    """Where a worker's time goes, cumulative; sent with every committed event."""

    batches: int = 0
    messages: int = 0
    readings: int = 0
    redelivered_done: int = 0
    late: int = 0
    conflicts: int = 0
    poisoned: int = 0
    stages: dict[str, float] = field(default_factory=dict)
    ingest_s: float = 0.0
    ack_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        stage_total = sum(self.stages.values())
        return {
            "pid": os.getpid(),
            "batches": self.batches,
            "messages": self.messages,
            "readings": self.readings,
            "redelivered_done": self.redelivered_done,
            "late": self.late,
            "conflicts": self.conflicts,
            "poisoned": self.poisoned,
            "gate_s": round(stage_total, 4),
            "commit_s": round(max(0.0, self.ingest_s - stage_total), 4),
            "ack_s": round(self.ack_s, 4),
            "stages": {k: round(v, 4) for k, v in self.stages.items()},
        }


# The broker or the database is away: the whole batch comes again, as it is.
_AWAY = (DBAPIError, nats.errors.Error, TimeoutError, OSError)


def _timed(name: str, stage: Callable[[Batch], None], acc: dict[str, float]) -> Any:
    def run(batch: Batch) -> None:
        t = time.perf_counter()
        stage(batch)
        acc[name] = acc.get(name, 0.0) + time.perf_counter() - t

    return run


class Worker:
    def __init__(
        self,
        platform: Platform,
        link: NatsLink,
        subjects: Subjects,
        *,
        batch: int = 256,
        small_batch: int = 16,
        ack_wait_s: float = 30.0,
    ) -> None:
        self.platform, self.link, self.subjects = platform, link, subjects
        self.batch, self.ack_wait_s = batch, ack_wait_s
        self.small_batch = max(1, min(small_batch, batch))
        self.stats = WorkerStats()
        gate = platform.gate
        gate.stages = [
            _timed(type(st).__name__.lower(), st, self.stats.stages) for st in gate.stages
        ]
        self._sub: Any = None

    def warm(self, limit: int = 20_000) -> int:
        """Load the register's devices into the gate's directory before the first batch."""
        devices = self.platform.store.list_devices()[:limit]
        for d in devices:
            self.platform.directory.get(d.id)
        return len(devices)

    def start(self) -> None:
        self.warm()
        js = self.link.js
        self.link.call(ensure_stream(js, self.subjects))
        self._sub = self.link.call(
            js.pull_subscribe(
                self.subjects.ingest,
                durable=DURABLE,
                stream=self.subjects.stream,
                config=consumer_config(self.ack_wait_s),
            )
        )

    def run(self, stop: threading.Event) -> None:
        if self._sub is None:
            self.start()
        while not stop.is_set():
            try:
                self.step()
            except (nats.errors.Error, TimeoutError, OSError) as e:
                # The broker is away (restart, network): what is not acked comes again.
                log.warning("worker waits for NATS: %s", type(e).__name__)
                stop.wait(0.2)
            except DBAPIError as e:
                # The database is away: nothing was committed or acked; it comes again.
                log.warning("worker waits for the database: %s", type(e).__name__)
                stop.wait(0.5)
            except Exception:
                # Whatever else went wrong, the batch was not acked: JetStream hands
                # it out again after ack_wait. The worker stays up for the rest.
                log.exception("worker batch failed; it will be redelivered")
                stop.wait(0.5)

    def step(self, timeout: float = 1.0) -> int:
        """Take one batch, decide and commit it, then ack. Returns the messages handled."""
        msgs = self._fetch(timeout)
        if not msgs:
            return 0
        fetched_at = time.time()
        try:
            outcomes = self.ingest(msgs)
        except _AWAY:
            # Nothing was committed: hand the batch back now (after a short
            # pause), not after ack_wait, so that the backlog moves as soon as
            # the database is back.
            self._hand_back(msgs)
            raise
        except Exception as e:
            if len(msgs) == 1:
                self._hold(msgs[0], e)
                return 0
            # Something in the batch fails the gate itself: find it, decide the rest.
            log.warning("worker batch of %d failed; deciding it one by one", len(msgs))
            return self._one_by_one(msgs, fetched_at)
        self._commit_done(msgs, outcomes, fetched_at)
        return len(msgs)

    def _commit_done(self, msgs: Sequence[Msg], outcomes: list[Outcome], fetched_at: float) -> None:
        committed_at = time.time()
        t = time.perf_counter()
        self.link.call(self._ack(msgs, fetched_at, committed_at))
        self.stats.ack_s += time.perf_counter() - t
        self.stats.batches += 1
        self.stats.messages += len(msgs)
        self.stats.readings += sum(o.admitted for o in outcomes)

    def _one_by_one(self, msgs: Sequence[Msg], fetched_at: float) -> int:
        done = 0
        for i, m in enumerate(msgs):
            try:
                outcomes = self.ingest([m])
            except _AWAY:
                self._hand_back(msgs[i:])
                raise
            except Exception as e:
                self._hold(m, e)
                continue
            self._commit_done([m], outcomes, fetched_at)
            done += 1
        return done

    def _hold(self, m: Msg, error: Exception) -> None:
        """Hand a poison envelope back for later, later each time; it is never dropped."""
        self.stats.poisoned += 1
        tries = m.metadata.num_delivered or 1
        delay = min(HOLD_MAX_S, NAK_DELAY_S * 2 ** min(tries, 16))
        msg_id = (m.headers or {}).get(MSG_ID) or message_id(m.data)
        # The error's type only: its message could quote the envelope.
        log.error(
            "envelope %s failed the gate with %s (try %d); held %.1f s",
            msg_id,
            type(error).__name__,
            tries,
            delay,
        )

        async def nak() -> None:
            await m.nak(delay=delay)

        try:
            self.link.call(nak(), timeout=5)
        except Exception as e:  # NATS away too: ack_wait brings it back
            log.warning("worker could not hold an envelope: %s", type(e).__name__)

    def _hand_back(self, msgs: Sequence[Msg]) -> None:
        async def nak() -> None:
            for m in msgs:
                await m.nak(delay=NAK_DELAY_S)

        try:
            self.link.call(nak(), timeout=5)
        except Exception as e:  # NATS away too: ack_wait brings them back
            log.warning("worker could not hand a batch back: %s", type(e).__name__)

    def want(self, pending: int) -> int:
        """How many envelopes to take when `pending` more wait on the stream.

        Every envelope of a batch waits for the batch's commit, so a batch is
        kept small (`small_batch`) while the workers keep up: a publish is then
        committed within a few envelopes' work, and a burst is shared among the
        workers instead of going whole to the first that asks. Once a backlog
        builds, latency is lost anyway and throughput is what drains it: a
        worker takes half of what waits (leaving the rest to the others), up to
        the full batch, whose per-batch costs (pull, commit, ack) are then
        spread over many envelopes.
        """
        return min(self.batch, max(self.small_batch, pending // 2))

    def _fetch(self, timeout: float) -> list[Msg]:
        """Take a batch: start as soon as one message is there.

        The first message is awaited with a pull request of one (the server
        answers the moment one is on the stream). It says how many more wait
        (`num_pending`), which sets the batch (`want`); the rest is taken with a
        no-wait pull that returns with what is there, or lingers at most FILL_S
        for the first to arrive (a pull of a whole batch would wait for it to
        fill, or for its expiry).
        """
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                first: list[Msg] = self.link.call(self._sub.fetch(1, timeout=max(left, 0.01)))
            except TimeoutError:  # nats' and asyncio's timeouts are both TimeoutError
                continue
            if not first:
                continue
            n = self.want(first[0].metadata.num_pending or 0)
            if n <= 1:
                return first
            try:
                rest: list[Msg] = self.link.call(self._sub.fetch(n - 1, timeout=FILL_S))
            except TimeoutError:
                rest = []  # nothing else there: go with the one
            except nats.errors.Error as e:
                # The first message is in hand: decide it rather than leave it
                # to come back after ack_wait.
                log.warning("worker could not top up its batch: %s", type(e).__name__)
                rest = []
            return first + rest
        return []

    def ingest(self, msgs: Sequence[Msg]) -> list[Outcome]:
        """Run the batch through the gate; redelivered copies of decided envelopes are done."""
        t = time.perf_counter()
        try:
            got = deliver(
                self.platform.gate,
                [m.data for m in msgs],
                [(m.metadata.num_delivered or 1) > 1 for m in msgs],
                [arrived(m) for m in msgs],
            )
        finally:
            self.stats.ingest_s += time.perf_counter() - t
        self.stats.redelivered_done += got.done
        self.stats.late += got.late
        self.stats.conflicts += got.conflicts
        return got.outcomes

    async def _ack(self, msgs: Sequence[Msg], fetched_at: float, committed_at: float) -> None:
        for m in msgs:
            await m.ack()
        ids = [(m.headers or {}).get(MSG_ID) or message_id(m.data) for m in msgs]
        # When each message was stored on the stream, and when this batch was
        # fetched and committed (epoch seconds): a reader can tell where an
        # envelope's time went (`charter bench scale` does).
        event = {
            "ids": ids,
            "queued_at": [m.metadata.timestamp.timestamp() for m in msgs],
            "fetched_at": fetched_at,
            "committed_at": committed_at,
            "stats": self.stats.to_json(),
        }
        await self.link.nc.publish(self.subjects.committed, _encode(event))


def arrived(m: Msg) -> int:
    """When the envelope reached the door: the gateway says; else when the stream stored it.

    A backlog on the stream is judged at that time, not when a worker gets to
    it (see `charter.transport.arrival`).
    """
    stored = int(m.metadata.timestamp.timestamp() * 1000)
    return arrived_header((m.headers or {}).get(ARRIVED), stored)


def serve_worker(settings: Any, say: Callable[[str], None] = print) -> None:
    """Run one worker until SIGTERM or SIGINT (what `charter worker` does)."""
    import signal

    from charter.bootstrap import build
    from charter.bus.nats import NatsBus

    if settings.bus_url is None:
        raise ValueError("a worker needs a bus: set bus_url (CHARTER_BUS_URL=nats://…)")
    subjects = Subjects(settings.bus_prefix)
    link = NatsLink(settings.bus_url, name=f"charter-worker-{os.getpid()}")
    platform = build(settings, bus=NatsBus(link, subjects))
    worker = Worker(
        platform,
        link,
        subjects,
        batch=settings.worker_batch,
        small_batch=settings.worker_small_batch,
        ack_wait_s=settings.worker_ack_wait_s,
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    settle_heap()
    say(f"worker {os.getpid()} consuming {subjects.ingest} (stream {subjects.stream})")
    try:
        worker.run(stop)
    finally:
        platform.close()
        say(f"worker {os.getpid()} stopped: {worker.stats.to_json()}")
