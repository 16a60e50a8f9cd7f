"""The MQTT device gateway.

Devices publish signed envelopes to `charter/v1/devices/<device-id>/up` with
QoS 1 and receive signed commands on `charter/v1/devices/<device-id>/down`.
The gateway takes messages off the broker with manual acknowledgement: a
device's PUBACK is sent only once what it sent is decided and committed.

Two data paths, chosen by `bus_url`:

* direct (no bus): gateway → gate → store commit → PUBACK. One process.
* scale-out (`nats://…`): gateway → JetStream stream (message id = hash of the
  envelope) → gate workers → store commit → `<prefix>.committed` → PUBACK.
  Gateways and workers scale independently; the PUBACK still follows the
  commit. An envelope JetStream reports as a duplicate was put on the stream
  before (it is durable there and committed or about to be), so it is
  acknowledged at once.

The gateway keeps a persistent session (MQTT 3.1.1 clean_session=False, MQTT 5
clean_start=False with a session expiry), so after a broker restart or a lost
connection it reconnects by itself and the broker hands it again whatever it
had not acknowledged. Acks for a delivery from an earlier connection are never
sent on a new one (packet ids are per connection): the broker redelivers it,
and the redelivered copy of an envelope already decided is acknowledged as done.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import paho.mqtt.client as mqtt

from charter.bus.nats import message_id
from charter.domain.clock import to_ms
from charter.runtime import settle_heap
from charter.settings import Settings
from charter.transport.arrival import Arrival, read_head
from charter.transport.arrival import now_ms as wall_ms
from charter.transport.mqtt_client import (
    Broker,
    ack_topic,
    broker,
    connect,
    down_topic,
    make_client,
    up_topic,
)
from charter.transport.redelivery import deliver

__all__ = [
    "Broker",
    "Delivery",
    "DirectSink",
    "JetStreamSink",
    "MqttGateway",
    "ack_topic",
    "broker",
    "connect",
    "down_topic",
    "make_client",
    "serve_gateway",
    "up_topic",
    "wait_until",
]
log = logging.getLogger(__name__)
_decode = msgspec.json.Decoder().decode


@dataclass(slots=True)
class Delivery:
    mid: int
    qos: int
    body: bytes
    dup: bool
    generation: int
    arrived_ms: int | None = None  # when the broker took it (None: unknown, now)
    device: str | None = None
    seq: int | None = None


class DirectSink:
    """Gateway → gate → commit, in this process."""

    def __init__(self, platform: Any) -> None:
        self.platform = platform

    def now_ms(self) -> int:
        return to_ms(self.platform.clock.now())

    def handle(self, batch: list[Delivery], done: Callable[[list[Delivery]], None]) -> None:
        now = self.now_ms()
        deliver(
            self.platform.gate,
            [d.body for d in batch],
            [d.dup for d in batch],
            [now if d.arrived_ms is None else d.arrived_ms for d in batch],
        )
        done(batch)

    def close(self) -> None:
        return None


class JetStreamSink:
    """Gateway → JetStream; PUBACK when a worker announces the commit."""

    def __init__(self, link: Any, subjects: Any) -> None:
        from charter.bus.nats import ensure_stream

        self.link, self.subjects = link, subjects
        self._pending: dict[str, list[Delivery]] = defaultdict(list)
        self._lock = threading.Lock()
        self._done: Callable[[list[Delivery]], None] = lambda _b: None
        link.call(ensure_stream(link.js, subjects))
        link.call(link.nc.subscribe(subjects.committed, cb=self._committed))
        link.call(link.nc.flush())

    def handle(self, batch: list[Delivery], done: Callable[[list[Delivery]], None]) -> None:
        from charter.bus.nats import message_id, publish_envelopes

        self._done = done
        with self._lock:
            for d in batch:
                self._pending[message_id(d.body)].append(d)
        duplicates = publish_envelopes(
            self.link, self.subjects, [d.body for d in batch], [d.arrived_ms for d in batch]
        )
        now_done = []
        with self._lock:
            for d, dup in zip(batch, duplicates, strict=True):
                if dup:
                    now_done.extend(self._pending.pop(message_id(d.body), []))
        if now_done:
            done(now_done)

    @staticmethod
    def now_ms() -> int:
        return wall_ms()

    async def _committed(self, msg: Any) -> None:
        ids = _decode(msg.data).get("ids", [])
        ready: list[Delivery] = []
        with self._lock:
            for i in ids:
                ready.extend(self._pending.pop(i, []))
        if ready:
            self._done(ready)

    def close(self) -> None:
        self.link.close()


class MqttGateway:
    def __init__(
        self,
        settings: Settings,
        sink: DirectSink | JetStreamSink,
        *,
        max_batch: int = 256,
    ) -> None:
        self.settings, self.sink, self.max_batch = settings, sink, max_batch
        self.root = settings.mqtt_topic_root
        self.client = make_client(settings, settings.mqtt_client_id, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.arrival = Arrival(settings.mqtt_session_expiry_s, clock=sink.now_ms)
        self._subscribed = threading.Event()
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self._queue: queue.Queue[Delivery] = queue.Queue()
        self._generation = 0
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._worker = threading.Thread(target=self._drain, name="mqtt-gateway", daemon=True)
        self.acked = 0

    @property
    def subscription(self) -> str:
        topic = up_topic(self.root, "+")
        group = self.settings.mqtt_share_group
        return f"$share/{group}/{topic}" if group else topic

    def start(self, timeout: float = 10.0) -> None:
        connect(self.client, self.settings)
        self.client.loop_start()
        self._worker.start()
        if not (self._connected.wait(timeout) and self._subscribed.wait(timeout)):
            raise RuntimeError("the MQTT broker did not accept the gateway's subscription")

    def stop(self) -> None:
        self._stop.set()
        self._worker.join(timeout=10)
        self.client.disconnect()
        self.client.loop_stop()
        self.sink.close()

    def send_command(self, device_id: str, signed_command: bytes) -> None:
        """Publish a signed command to a device (QoS 1; the broker keeps it for the device)."""
        self.client.publish(down_topic(self.root, device_id), signed_command, qos=1)

    # paho callbacks (its network thread) ---------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT broker refused the gateway: %s", reason)
            return
        self._generation += 1
        self.arrival.connected()
        client.subscribe(self.subscription, qos=1)
        self._connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, _r: Any, _p: Any) -> None:
        # From now on the broker holds what devices send: it arrived when they sent it.
        self.arrival.disconnected()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        body = bytes(msg.payload)
        head = read_head(body)
        sent = None if head is None else to_ms(head.sent_at)
        d = Delivery(msg.mid, msg.qos, body, bool(msg.dup), self._generation)
        d.arrived_ms = self.arrival.at(sent, self.sink.now_ms())
        if head is not None:
            d.device, d.seq = head.device, head.seq
        self._queue.put(d)

    # the batching thread --------------------------------------------------------
    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._hand_on(batch)

    def _hand_on(self, batch: list[Delivery]) -> None:
        # Until it is handed on, nothing is acknowledged; the device keeps it too.
        delay = 0.1
        while not self._stop.is_set():
            try:
                self.sink.handle(batch, self._ack)
                return
            except Exception:
                log.exception("gateway could not hand %d messages on; retrying", len(batch))
                self._stop.wait(delay)
                delay = min(2.0, delay * 2)

    def _ack(self, deliveries: list[Delivery]) -> None:
        """The envelopes are decided and committed: PUBACK, and the end-to-end ack.

        Mosquitto answers the device's PUBLISH with its own PUBACK as soon as it
        has the message in memory; a broker crash can lose what it acknowledged
        (docs/scaling.md). A device that must not lose an envelope waits instead
        for `<root>/<device>/ack` (`{"seq": n}`, QoS 1), published here after
        the commit, and sends the same bytes again until it comes
        (`transport.device_link.MqttDevice`). The ack names the hash of the
        exact bytes decided, so an envelope forged in a device's name cannot
        confirm one of the device's own.
        """
        for d in deliveries:
            if d.qos > 0 and d.generation == self._generation:
                self.client.ack(d.mid, d.qos)
                self.acked += 1
            if d.device is not None and d.seq is not None:
                payload = b'{"seq":%d,"id":"%s"}' % (d.seq, message_id(d.body).encode())
                self.client.publish(ack_topic(self.root, d.device), payload, qos=1)


def serve_gateway(settings: Settings, say: Callable[[str], None] = print) -> None:
    """Run the gateway until SIGTERM or SIGINT (what `charter gateway` does)."""
    import signal

    sink: DirectSink | JetStreamSink
    platform = None
    if settings.bus_url:
        from charter.bus.nats import NatsLink, Subjects

        sink = JetStreamSink(
            NatsLink(settings.bus_url, name="charter-gateway"), Subjects(settings.bus_prefix)
        )
        path = f"JetStream {settings.bus_url}"
    else:
        from charter.bootstrap import build

        platform = build(settings)
        sink = DirectSink(platform)
        path = "the gate in this process"
    gw = MqttGateway(settings, sink)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    gw.start()
    settle_heap()
    say(f"gateway on {settings.mqtt_url} topic {gw.subscription} → {path}")
    while not stop.wait(1.0):
        pass
    gw.stop()
    if platform is not None:
        platform.close()
    say(f"gateway stopped after {gw.acked} acknowledgements")


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True
