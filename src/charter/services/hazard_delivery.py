"""Delivering a zone's hazard alerts: the channel that sends each signed alert to
the zone's actuator and, the same bytes, to its subscribers (webhooks on a small
pool, the zone's MQTT topic), then records it on the ledger; and the zone's
siren, the actuator that keeps its last verified message when the platform is lost.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from charter.commands.command import Command, from_wire
from charter.domain.clock import Clock
from charter.domain.errors import CharterError
from charter.ledger.log import Ledger
from charter.services.actuator import Actuator, InProcessChannel
from charter.services.hazard import CLEAR, NORMAL, RAISE, STATE
from charter.services.hazard_subscriptions import MQTT, AlertSubscriptions, check_channel
from charter.settings import Settings


class Webhooks:
    """POSTs an alert's signed bytes to residents' webhooks, off the alert's path (a small
    pool), each with a bounded timeout, only to the hosts the operator allowed (checked
    again at send time); a failure is counted, never fatal, never retried."""

    def __init__(self, allowed_hosts: Sequence[str], timeout_s: float, workers: int = 4) -> None:
        import httpx

        self.allowed_hosts, self.timeout_s = list(allowed_hosts), timeout_s
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="alert-webhook")
        # One client for every post (its TLS context and connections made once, not per
        # alert); no redirects followed, so an allowed host cannot send the alert elsewhere.
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)
        self._pending: list[Future[None]] = []
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0
        self.durations: list[float] = []  # seconds each POST took, for the benchmark

    @classmethod
    def from_settings(cls, settings: Settings) -> Webhooks:
        return cls(settings.alert_webhook_hosts, settings.alert_webhook_timeout_s)

    def post(self, url: str, wire: bytes) -> None:
        fut = self._pool.submit(self.post_now, url, wire, time.perf_counter())
        with self._lock:
            self._pending = [f for f in self._pending if not f.done()] + [fut]

    def post_now(self, url: str, wire: bytes, queued: float | None = None) -> None:
        """POST now, in this thread (a pool worker's); the outcome counted, never raised;
        the time from `queued` (else now) to the answer kept in `durations`."""
        import httpx

        started = time.perf_counter() if queued is None else queued
        try:
            check_channel(url, self.allowed_hosts)
            r = self._client.post(url, content=wire, headers={"Content-Type": "application/json"})
            ok = 200 <= r.status_code < 300
        except (httpx.HTTPError, CharterError, OSError):
            ok = False
        with self._lock:
            self.durations.append(time.perf_counter() - started)
            if ok:
                self.sent += 1
            else:
                self.failed += 1

    def flush(self) -> None:
        """Wait for the fan-outs and posts under way (each post bounded by the timeout)."""
        while True:
            with self._lock:
                pending, self._pending = self._pending, []
            if not pending:
                return
            for f in pending:
                f.result()

    def close(self) -> None:
        self.flush()
        self._pool.shutdown(wait=True)
        self._client.close()


class AlertChannel(InProcessChannel):
    """Commands to actuators; an alert's signed bytes also reach the zone's subscribers,
    read from the store at each alert (webhooks through `Webhooks`, "mqtt" through the
    zone's topic), and the alert goes on the ledger once sent."""

    def __init__(
        self,
        subscriptions: AlertSubscriptions | None = None,
        topics: ZoneTopics | None = None,
        webhooks: Webhooks | None = None,
    ) -> None:
        super().__init__()
        self.subscriptions, self.topics, self.webhooks = subscriptions, topics, webhooks
        self.ledger: Ledger | None = None
        self.sent: list[Command] = []
        self.delivered: dict[str, int] = {}  # zone → subscriptions the alert was sent to
        self._count_lock = threading.Lock()
        # Called with (action, alert) once an alert is sent and on the ledger: the public
        # NGSI-LD Alert entity of its zone (`ngsild.alerts.AlertPublisher.publish`).
        self.published: Callable[[str, dict[str, Any]], None] | None = None

    def send(self, target: str, wire: bytes) -> None:
        super().send(target, wire)
        if (
            self.subscriptions is None
            and self.topics is None
            and self.ledger is None
            and self.published is None
        ):
            return
        cmd = from_wire(wire).command
        if cmd.action not in (RAISE, CLEAR):
            return
        self.sent.append(cmd)
        zone = str(cmd.params.get("zone", ""))
        if not self.up:
            return  # nothing went out: the sirens are on their own
        if self.topics is not None:
            self.topics.publish(zone, wire)
        self.on_sent(wire)  # the siren and the zone's topic have it
        if self.subscriptions is not None:  # the store read now, the POSTs on the pool
            self._fan_out(str(cmd.params.get("project", "")), zone, wire)
        if self.ledger is not None:
            with self.ledger.write() as w:
                w.record(
                    "hazard.alert",
                    None,
                    zone=zone,
                    action=cmd.action,
                    level=cmd.params.get("level", NORMAL),
                    target=target,
                    command_sha256=hashlib.sha256(wire).hexdigest(),
                )
        if self.published is not None:
            self.published(cmd.action, dict(cmd.params))

    def _fan_out(self, project: str, zone: str, wire: bytes) -> None:
        """The zone's subscribers as the store has them now, each on its channel."""
        assert self.subscriptions is not None
        n = 0
        for channel in self.subscriptions.channels(project, zone):
            if channel == MQTT:
                n += 1 if self.topics is not None else 0  # the zone's topic carried it
            elif self.webhooks is not None:
                self.webhooks.post(channel, wire)
                n += 1
        with self._count_lock:
            self.delivered[zone] = self.delivered.get(zone, 0) + n

    def on_sent(self, wire: bytes) -> None:
        """Called once the alert went out to the zone's siren and topic, before the
        subscribers' fan-out and the ledger entry: where the latency benchmark stops."""


class ZoneTopics:
    """Alerts on an MQTT topic per zone (`<root>/<zone>`, QoS 1, on the broker already
    used): residents' apps subscribe to their zone's topic; Charter holds no list."""

    def __init__(self, settings: Settings, root: str, client_id: str) -> None:
        from charter.transport.mqtt_client import connect, make_client

        self.root = root.rstrip("/")
        self.client = make_client(settings, client_id, persistent=False)
        connect(self.client, settings, persistent=False)
        self.client.loop_start()

    def topic(self, zone: str) -> str:
        return f"{self.root}/{zone}"

    def publish(self, zone: str, wire: bytes) -> None:
        self.client.publish(self.topic(zone), wire, qos=1)  # queued; never blocks the alert

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class ZoneSiren(Actuator):
    """A zone's siren and signs. It shows the last verified alert; on its own (the
    platform lost) it keeps that message and sounds on its own local gauge."""

    def __init__(
        self,
        device_id: str,
        platform_key_b64: str,
        clock: Clock,
        *,
        local_danger: float,
        max_silence: timedelta = timedelta(seconds=30),
    ) -> None:
        super().__init__(device_id, platform_key_b64, clock, max_silence)
        self.local_danger = local_danger
        self.message: dict[str, Any] | None = None  # the last verified alert
        self.sounding = False
        self.local_trips = 0  # times its own gauge set it sounding, alone

    def apply(self, cmd: Command) -> None:
        if cmd.action == STATE:
            was = cmd.params.get("state_of")
            if self.message is None or self.message.get("at_ms") != cmd.params.get("at_ms"):
                self.message = {k: v for k, v in cmd.params.items() if k != "state_of"}
                self.sounding = was == RAISE
        elif cmd.action == RAISE:
            self.message, self.sounding = dict(cmd.params), True
        elif cmd.action == CLEAR:
            self.message, self.sounding = dict(cmd.params), False

    def local_reading(self, value: float) -> None:
        """Its own float switch or gauge: heeded only while the platform is silent."""
        if self.watchdog.safe and value >= self.local_danger:
            if not self.sounding:
                self.local_trips += 1
            self.sounding = True

    def enter_safe_mode(self, why: str) -> None:
        pass  # keeps the last verified message and sound; the local trigger takes over

    def leave_safe_mode(self) -> None:
        pass
