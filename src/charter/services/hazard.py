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

This module is the plan and the detector. The `AlertChannel`
(`hazard_delivery.py`) delivers each signed alert to the zone's actuator and, the
same signed bytes, to every resident subscribed to that zone
(`AlertSubscriptions`, `hazard_subscriptions.py`, in the store: a coarse zone and
a channel, never a location or an identity; withdrawal immediate in every
process; the ledger records the zone and a digest, never who): a POST to a
webhook on a host the operator allowed, or the zone's MQTT topic. It records
every alert on the ledger after it is sent.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from shapely.geometry import Point, Polygon

from charter.domain.clock import iso
from charter.domain.errors import NotFound
from charter.domain.model import Actor, Strict, _check_urn
from charter.ledger.log import Ledger
from charter.services.base import Intent, Reading, Service
from charter.services.sensors import Flag
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
