"""A device's MQTT link that keeps each envelope until the platform has committed it.

MQTT QoS 1 gives a device the broker's PUBACK, which Mosquitto sends once the
message is in its memory: if the broker crashes before it saves it (at
`autosave_interval`, or on a clean shutdown), the message is gone and the
device, which has its PUBACK, never sends it again. The platform's own
acknowledgement comes on `<root>/<device>/ack` from the gateway after the
envelope is decided and committed (`MqttGateway._ack`); `MqttDevice` keeps
every envelope until that ack names its hash, and `resend()` sends what is
still unconfirmed again, byte for byte. A copy of an envelope that was
already decided is recognised as such (the stream's duplicate window, the
gate's sequence numbers): nothing is stored twice.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import msgspec
import paho.mqtt.client as mqtt

from charter.bus.nats import message_id
from charter.settings import Settings
from charter.transport.arrival import read_head
from charter.transport.mqtt import ack_topic, connect, make_client, up_topic


class _Ack(msgspec.Struct):
    seq: int
    id: str


_decode_ack = msgspec.json.Decoder(_Ack).decode


class MqttDevice:
    def __init__(self, settings: Settings, device_id: str, client_id: str | None = None) -> None:
        self.device_id, self.root = device_id, settings.mqtt_topic_root
        self.pending: dict[str, tuple[bytes, float]] = {}  # hash -> (bytes, last sent)
        self.confirmed: set[str] = set()
        self.pubacked: set[str] = set()
        self.seqs: dict[str, int] = {}  # hash -> the envelope's sequence number
        self._mids: dict[int, str] = {}
        self._early: set[int] = set()
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        cid = client_id or f"dev-{uuid.uuid4().hex[:10]}"
        self.client = make_client(settings, cid, persistent=False)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_ack
        self.client.on_publish = self._on_puback
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        connect(self.client, settings, persistent=False)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("the broker did not take the device's ack subscription")

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe(ack_topic(self.root, self.device_id), qos=1)

    def _on_ack(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            ack = _decode_ack(msg.payload)
        except (msgspec.DecodeError, ValueError):
            return
        with self._lock:
            if self.pending.pop(ack.id, None) is not None:
                self.confirmed.add(ack.id)

    def _on_puback(self, _c: mqtt.Client, _u: Any, mid: int, _r: Any, _p: Any) -> None:
        with self._lock:
            h = self._mids.pop(mid, None)
            if h is None:
                self._early.add(mid)  # acknowledged before `_publish` noted it
            else:
                self.pubacked.add(h)

    def _publish(self, h: str, body: bytes) -> None:
        # Never under self._lock: paho may hold its own lock while it calls _on_puback.
        info = self.client.publish(up_topic(self.root, self.device_id), body, qos=1)
        with self._lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
                self.pubacked.add(h)
            else:
                self._mids[info.mid] = h

    def send(self, body: bytes) -> str:
        """Publish an envelope (QoS 1) and keep it until the platform confirms it."""
        h = message_id(body)
        head = read_head(body)
        with self._lock:
            if head is not None:
                self.seqs[h] = head.seq
            self.pending[h] = (body, time.monotonic())
        self._publish(h, body)
        return h

    def resend(self, older_than_s: float = 5.0) -> int:
        """Send again what the platform has not confirmed within `older_than_s`."""
        now = time.monotonic()
        with self._lock:
            due = [(h, b) for h, (b, at) in self.pending.items() if now - at >= older_than_s]
            for h, body in due:
                self.pending[h] = (body, now)
        for h, body in due:
            self._publish(h, body)
        return len(due)

    def unconfirmed(self) -> int:
        with self._lock:
            return len(self.pending)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
