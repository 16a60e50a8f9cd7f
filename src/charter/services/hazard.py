"""Disaster early warning: zone alerts from river level and rainfall readings.

The project's warning plan (its zones, each a polygon with the alert actuator
that serves it, and the warning and danger thresholds per category and field)
is published on the ledger with the project (`publish_plan`), so anyone can
check what raises an alert and where.

Each admitted reading is first checked for sanity: out of the field's physical
range, jumping faster than the plan allows (a river rising 5 m in a second), or
stuck at one value for `stuck_n` readings in a row. Such a reading is flagged,
the sensor reported to the operator (`flags`, and a `hazard.sensor_flagged`
ledger entry), and it does not count towards an alert; after a jump none of
the gauge's readings count until the operator `release`s it (on the record). A good reading is at
`danger` or `warning` when it reaches the threshold, and at `warning` too when
the level rose faster than `rise_per_min` over the last `rise_window_s`. A
sensor's level counts once `debounce` good readings in a row agree; a zone's
level is the highest of the sensors inside it (a shapely geofence). When a
zone's level goes up, its actuator gets `alert.raise` (signed by the host);
when every sensor is back to normal, `alert.clear`.

The `AlertChannel` delivers each signed alert to the zone's actuator and, the
same signed bytes, to every resident subscribed to that zone
(`AlertSubscriptions`, in the store: a coarse zone and a channel, never a
location or an identity; withdrawal immediate in every process; the ledger
records the zone and a digest, never who): a POST to a webhook on a host the
operator allowed, or the zone's MQTT topic. It records every alert on the
ledger after it is sent.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from shapely.geometry import Point, Polygon

from charter.commands.command import Command, from_wire
from charter.domain.clock import Clock, iso
from charter.domain.errors import CharterError, NotFound
from charter.domain.model import Actor, Strict, _check_urn
from charter.domain.reasons import Reason
from charter.ledger.log import Ledger
from charter.services.actuator import Actuator, InProcessChannel
from charter.services.base import Intent, Reading, Service
from charter.services.sensors import Flag
from charter.settings import Settings
from charter.store.alerts import AlertSubscriptionRow
from charter.store.base import Store

NORMAL, WARNING, DANGER = "normal", "warning", "danger"
RANK = {NORMAL: 0, WARNING: 1, DANGER: 2}
RAISE, CLEAR = "alert.raise", "alert.clear"
# The zone's current alert again, to its actuator only (after an outage it may have
# missed the last one); not a new alert: no subscriber gets it, the ledger does not.
STATE = "alert.state"
# The Smart Data Models WeatherAlert `severity` of each level.
SEVERITY = {NORMAL: "informational", WARNING: "high", DANGER: "critical"}
# The Smart Data Models entity and attribute a reading's field stands for, as the alert's
# `data` names it: a river gauge's level is FloodMonitoring's `currentLevel` (its
# thresholds `alertLevel` and `dangerLevel`); a rain gauge's rate is WeatherObserved's
# `precipitation` over the hour (mm/h). Smart Data Models has no seismic entity: peak
# ground acceleration and velocity keep their seismological names.
SDM_READING: dict[str, tuple[str | None, str]] = {
    "level": ("FloodMonitoring", "currentLevel"),
    "rate": ("WeatherObserved", "precipitation"),
    "pga": (None, "peakGroundAcceleration"),
    "pgv": (None, "peakGroundVelocity"),
}
# WeatherAlert's category is "weather"; an earthquake is the Alert model's natural disaster.
ALERT_CATEGORY = {"earthquake": "naturalDisaster"}
ZoneId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,62}$")]


class Zone(Strict):
    """A coarse alert zone: a polygon (lon, lat, as GeoJSON) and the actuator serving it."""

    id: ZoneId
    name: Annotated[str, Field(min_length=1, max_length=200)]
    polygon: list[tuple[float, float]] = Field(min_length=4, max_length=1000)
    actuator: str

    @model_validator(mode="after")
    def _valid(self) -> Zone:
        _check_urn(self.actuator, "Device")
        if not Polygon(self.polygon).is_valid:
            raise ValueError(f"zone {self.id}: the polygon is not a valid simple ring")
        return self


class Threshold(Strict):
    """When a category's field warns, and what counts as a sane reading of it."""

    category: str
    field: str
    unit: str
    warning: float
    danger: float
    rise_per_min: float | None = None  # a rise this fast warns below `warning`
    rise_window_s: float = 600.0
    debounce: int = Field(default=2, ge=1, le=100)
    minimum: float  # physical range of the sensor
    maximum: float
    max_step_per_s: float  # faster than this is a fault, not the river
    stuck_n: int = Field(default=30, ge=3)
    steady: float | None = None  # a value that may repeat for hours (a dry rain gauge's 0)
    #: The Smart Data Models WeatherAlert `subCategory` its alerts carry.
    sub_category: Literal[
        "flood", "rainfall", "rain_flood", "tsunami", "coastalEvent", "earthquake"
    ] = "flood"

    @model_validator(mode="after")
    def _ordered(self) -> Threshold:
        if not self.minimum <= self.warning < self.danger <= self.maximum:
            raise ValueError("thresholds need minimum <= warning < danger <= maximum")
        return self


class HazardPlan(Strict):
    project_id: str
    zones: list[Zone] = Field(min_length=1, max_length=500)
    thresholds: list[Threshold] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _unique(self) -> HazardPlan:
        _check_urn(self.project_id, "Project")
        ids = [z.id for z in self.zones]
        if len(set(ids)) != len(ids):
            raise ValueError("zone ids must be unique")
        return self

    def zone(self, zone_id: str) -> Zone | None:
        return next((z for z in self.zones if z.id == zone_id), None)


def publish_plan(store: Store, ledger: Ledger, plan: HazardPlan, actor: Actor, why: str) -> int:
    """Put the plan on the public record (the whole document); returns the entry's index."""
    if store.get_project(plan.project_id) is None:
        raise NotFound(f"project {plan.project_id}")
    doc = plan.model_dump(mode="json")
    with ledger.write() as w:
        w.tx.put_hazard_plan(plan.project_id, plan.model_dump_json(), w.now_ms)
        return w.record("hazard.plan.published", actor, project=plan.project_id, plan=doc, why=why)


def zones_of_devices(store: Store, plan: HazardPlan) -> dict[str, list[str]]:
    """Which zones each of the project's devices lies in (its registered location)."""
    shapes = [(z.id, Polygon(z.polygon)) for z in plan.zones]
    out: dict[str, list[str]] = {}
    for d in store.list_devices():
        if d.project_id != plan.project_id or d.location is None:
            continue
        pt = Point(d.location.lon, d.location.lat)
        inside = [zid for zid, shape in shapes if shape.covers(pt)]
        if inside:
            out[d.id] = inside
    return out


# -- resident subscriptions ------------------------------------------------------
_COORDS = re.compile(r"-?\d+(\.\d+)?\s*[,; ]\s*-?\d+(\.\d+)?")
MQTT = "mqtt"  # a subscription's channel: the zone's MQTT topic


def check_channel(channel: str, allowed_hosts: Sequence[str]) -> str:
    """A channel is "mqtt" (the zone's topic) or an http(s) webhook on a host the operator
    allowed (`alert_webhook_hosts`); the URL is never echoed in an error."""
    if channel == MQTT:
        return channel
    try:
        url = urlsplit(channel)
        host = (url.hostname or "").lower()
    except ValueError:
        host, url = "", urlsplit("")
    if url.scheme not in ("http", "https") or not host or url.username or url.password:
        raise CharterError(
            Reason.WEBHOOK_HOST_NOT_ALLOWED,
            'the channel is "mqtt" or an http(s) webhook URL without credentials',
        )
    if host not in {h.lower() for h in allowed_hosts}:
        raise CharterError(
            Reason.WEBHOOK_HOST_NOT_ALLOWED, "the webhook's host is not one the operator allowed"
        )
    return channel


class AlertSubscriptions:
    """Residents' opt-ins to a zone's alerts, in the store (so every process sees the
    same ones, and a withdrawal is immediate everywhere). A subscription is a zone, a
    channel and the SHA-256 of a random id the resident keeps: no identity, no location.
    The ledger records the zone and a digest of the id, never who subscribed."""

    def __init__(self, store: Store, ledger: Ledger, settings: Settings) -> None:
        self.store, self.ledger, self.settings = store, ledger, settings

    def plans(self) -> list[HazardPlan]:
        """Every published warning plan (zones and thresholds: public)."""
        return [HazardPlan.model_validate_json(doc) for _, doc in self.store.list_hazard_plans()]

    def find_zone(self, zone: str, project: str | None = None) -> tuple[HazardPlan, Zone]:
        found = [
            (plan, z)
            for plan in self.plans()
            if project is None or plan.project_id == project
            for z in plan.zones
            if z.id == zone
        ]
        if not found:
            raise CharterError(Reason.ZONE_UNKNOWN, "no zone by that id in a published plan")
        if len(found) > 1:
            raise CharterError(
                Reason.ZONE_UNKNOWN, "two plans have a zone by that id: name the project"
            )
        return found[0]

    def subscribe(
        self,
        zone: str,
        channel: str,
        *,
        project: str | None = None,
        lat: float | None = None,
        lon: float | None = None,
        geometry: object | None = None,
        source: str | None = None,
    ) -> str:
        """Opt in to one zone's alerts; returns the subscription id (the resident's to keep).

        `source` is a keyed hash of the client's address (an anonymous caller's only
        handle): at most `alert_subscriptions_per_hour` subscriptions from one source in
        an hour, counted in the store so every process counts the same. The CLI, an
        operator's tool, passes none.
        """
        if (
            lat is not None
            or lon is not None
            or geometry is not None
            or _COORDS.fullmatch(zone.strip())
        ):
            raise CharterError(
                Reason.LOCATION_NOT_ZONE,
                "name one of the published zones; a location is never taken",
            )
        plan, z = self.find_zone(zone, project)
        check_channel(channel, self.settings.alert_webhook_hosts)
        # Hex, not base64url: an id that starts with '-' reads as an option on a command line.
        sub_id = secrets.token_hex(24)
        digest = _sha256(sub_id)
        with self.ledger.write() as w:
            # Counted inside the write: a refusal rolls the count back with everything else.
            limit = self.settings.alert_subscriptions_per_hour
            window = w.now_ms - w.now_ms % HOUR_MS
            if source is not None and w.tx.count_at_door(_DOOR, source, window) > limit:
                raise CharterError(
                    Reason.RATE_LIMITED, f"at most {limit} subscriptions an hour from one source"
                )
            w.tx.add_alert_subscription(
                AlertSubscriptionRow(digest, plan.project_id, z.id, channel, w.now_ms)
            )
            w.record(
                "alert.subscribed", None, project=plan.project_id, zone=z.id,
                subscription=digest[:32], channel="mqtt" if channel == MQTT else "webhook",
            )  # fmt: skip
        return sub_id

    def withdraw(self, subscription_id: str) -> None:
        """Immediate: no alert, from any process, reaches the subscription once this returns."""
        digest = _sha256(subscription_id)
        with self.ledger.write() as w:
            row = w.tx.delete_alert_subscription(digest)
            if row is None:
                raise CharterError(Reason.ZONE_UNKNOWN, "no such subscription (withdrawn already?)")
            w.record(
                "alert.withdrawn", None, project=row.project_id, zone=row.zone,
                subscription=digest[:32],
            )  # fmt: skip

    def channels(self, project: str, zone: str) -> list[str]:
        return self.store.alert_channels(project, zone)

    def count(self, zone: str, project: str | None = None) -> int:
        counts = self.store.count_alert_subscriptions()
        return sum(n for (p, z), n in counts.items() if z == zone and project in (None, p))


_DOOR = "alert.subscribe"
HOUR_MS = 3_600_000


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


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


# -- the detector ----------------------------------------------------------------
@dataclass
class _Sensor:
    last: tuple[int, float] | None = None  # last good (observed_at_ms, value)
    history: deque[tuple[int, float]] = field(default_factory=deque)
    same: int = 0
    candidate: str = NORMAL
    agree: int = 0
    level: str = NORMAL
    flagged: set[str] = field(default_factory=set)
    suspect: bool = False
    category: str = ""


@dataclass
class HazardWatch(Service):
    plan: HazardPlan
    device_zones: dict[str, list[str]]
    name: str = "hazard-watch"
    categories: frozenset[str] = frozenset()
    on_flag: Callable[[Flag], None] | None = None  # the operator's side
    #: Has the operator released this flagged sensor (in any process)? The store's answer.
    released: Callable[[str], bool] | None = None
    _sensors: dict[str, _Sensor] = field(default_factory=dict)
    _zone_level: dict[str, str] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)
    raised: list[tuple[str, str, int]] = field(default_factory=list)  # zone, level, at_ms
    restate_s: float = 60.0  # how often each actuator is told its zone's current alert
    _last_alert: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    _restated_ms: int | None = None

    def report(self) -> dict[str, Any]:
        """What the operator sees in `charter services list` and `/services`."""
        flagged = sorted(d for d, s in self._sensors.items() if s.flagged)
        return {"flagged_sensors": flagged, "alerts_raised": len(self.raised)}

    def __post_init__(self) -> None:
        self.categories = frozenset(t.category for t in self.plan.thresholds)
        self._rules = {t.category: t for t in self.plan.thresholds}

    @property
    def actuators(self) -> Sequence[str]:
        return [z.actuator for z in self.plan.zones]

    def on_readings(self, readings: Sequence[Reading], now_ms: int) -> list[Intent]:
        touched: set[str] = set()
        for r in readings:
            rule = self._rules.get(r.category)
            value = r.values.get(rule.field) if rule else None
            if rule is None or not isinstance(value, int | float) or isinstance(value, bool):
                continue
            if r.device_id in self.device_zones and self._observe(r, rule, float(value)):
                touched.update(self.device_zones[r.device_id])
        return self._zones(touched, now_ms)

    def _observe(self, r: Reading, rule: Threshold, v: float) -> bool:
        """True when the sensor's debounced level changed."""
        s = self._sensors.get(r.device_id)
        if s is None:  # (not setdefault: that would build a sensor for every reading)
            s = self._sensors[r.device_id] = _Sensor(category=r.category)
        s.category = r.category
        t = r.observed_at_ms
        why = None
        if not rule.minimum <= v <= rule.maximum:
            why = "out_of_range"
        elif s.last is not None:
            dt = max((t - s.last[0]) / 1000, 1e-3)
            if abs(v - s.last[1]) / dt > rule.max_step_per_s:
                why = "jump"
                s.suspect = True
            s.same = s.same + 1 if v == s.last[1] and v != rule.steady else 0
            if s.same + 1 >= rule.stuck_n:
                why = "stuck"
        if why is not None:
            self._flag(s, Flag(r.device_id, why, v, t))
            if why != "out_of_range":
                s.last = (t, v)  # the next reading is judged against this one
            return False
        s.last = (t, v)
        if s.suspect and self.released is not None and self.released(r.device_id):
            self.release(r.device_id, t, record=False)  # released from another process
        if s.suspect:
            return False  # after a jump, only the operator's `release` trusts it again
        s.flagged.clear()
        s.history.append((t, v))
        while s.history and s.history[0][0] < t - rule.rise_window_s * 1000:
            s.history.popleft()
        level = self._level(rule, s, v, t)
        s.agree = s.agree + 1 if level == s.candidate else 1
        s.candidate = level
        if s.agree >= rule.debounce and s.level != level:
            s.level = level
            return True
        return False

    @staticmethod
    def _level(rule: Threshold, s: _Sensor, v: float, t: int) -> str:
        if v >= rule.danger:
            return DANGER
        if v >= rule.warning:
            return WARNING
        if rule.rise_per_min is not None and len(s.history) >= 2:
            t0, v0 = s.history[0]
            minutes = (t - t0) / 60_000
            if minutes > 0 and (v - v0) / minutes >= rule.rise_per_min:
                return WARNING
        return NORMAL

    def _flag(self, s: _Sensor, flag: Flag) -> None:
        if flag.why in s.flagged:
            return  # reported once until the sensor reads sanely again
        s.flagged.add(flag.why)
        self.flags.append(flag)
        if self.on_flag is not None:
            self.on_flag(flag)

    def _zones(self, touched: set[str], now_ms: int) -> list[Intent]:
        intents = []
        for zone in sorted(touched):
            members = [d for d, zs in self.device_zones.items() if zone in zs]
            level = max(
                (self._sensors[d].level for d in members if d in self._sensors),
                key=RANK.__getitem__,
                default=NORMAL,
            )
            before = self._zone_level.get(zone, NORMAL)
            if level == before:
                continue
            self._zone_level[zone] = level
            z = self.plan.zone(zone)
            assert z is not None
            rule, value = self._cause(members, level)
            entity, attr = SDM_READING.get(rule.field, (None, rule.field))
            alert = {
                # The Smart Data Models WeatherAlert (Alert, for an earthquake) vocabulary
                "type": "Alert" if rule.sub_category == "earthquake" else "WeatherAlert",
                "category": ALERT_CATEGORY.get(rule.sub_category, "weather"),
                "subCategory": rule.sub_category,
                "severity": SEVERITY[level],
                "alertSource": self.name,
                "dateIssued": iso(now_ms),
                "validFrom": iso(now_ms),
                "description": f"{z.name}: {rule.category} at {level}",
                "data": {
                    "controlledProperty": attr,
                    "observedEntity": entity,
                    attr: value,
                    "unit": rule.unit,
                    "alertLevel": rule.warning,  # FloodMonitoring's names for the thresholds
                    "dangerLevel": rule.danger,
                },
                "zone": zone,
                "project": self.plan.project_id,
                "level": level,
                "at_ms": now_ms,
            }
            if RANK[level] > RANK[before]:
                self.raised.append((zone, level, now_ms))
                intents.append(Intent(z.actuator, RAISE, alert))
                self._last_alert[zone] = (RAISE, alert)
            elif level == NORMAL:
                intents.append(Intent(z.actuator, CLEAR, alert))
                self._last_alert[zone] = (CLEAR, alert)
        return intents

    def on_tick(self, now_ms: int) -> list[Intent]:
        """Every `restate_s`, each zone's actuator is told the zone's current alert, so
        that one that missed an alert in an outage shows the right one once it is back."""
        if self._restated_ms is not None and now_ms - self._restated_ms < self.restate_s * 1000:
            return []
        self._restated_ms = now_ms
        out = []
        for zone, (action, alert) in sorted(self._last_alert.items()):
            z = self.plan.zone(zone)
            if z is not None:
                out.append(Intent(z.actuator, STATE, {**alert, "state_of": action}))
        return out

    def _cause(self, members: list[str], level: str) -> tuple[Threshold, float | None]:
        """The rule (and the last good value) of the sensor that put the zone at its level;
        for an all-clear, the first sensor that reads."""
        for want in (level, None):
            for d in members:
                s = self._sensors.get(d)
                if s is None or s.category not in self._rules:
                    continue
                if want is None or s.level == want:
                    return self._rules[s.category], (s.last[1] if s.last else None)
        return self.plan.thresholds[0], None

    def release(self, device_id: str, now_ms: int, *, record: bool = True) -> None:
        """The operator checked a gauge that jumped: its readings count again (reported
        as a flag of its own, `released`, so that it is on the record too, unless it was
        released through the store, `release_sensor`, which recorded it)."""
        s = self._sensors.get(device_id)
        if s is not None:
            s.suspect = False
            s.flagged.clear()
            s.history.clear()
            if record and self.on_flag is not None:
                self.on_flag(Flag(device_id, "released", s.last[1] if s.last else 0.0, now_ms))

    def suspects(self) -> list[str]:
        return sorted(d for d, s in self._sensors.items() if s.suspect)

    def zone_level(self, zone: str) -> str:
        return self._zone_level.get(zone, NORMAL)


# -- delivery and the actuators ----------------------------------------------------
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
