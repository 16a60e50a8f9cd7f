"""Snow-melting sidewalks: heat a segment only when it would otherwise ice.

Each segment has a road weather sensor (surface and air temperature, wind,
precipitation, surface moisture; `surface.weather`, non-personal) and a heater
(an `Actuator` with its own key that verifies every command and, alone, runs
its local thermostat). Every hour the service decides for each segment:

- **Risk**: the surface is wet or snowy (moisture above 0.05 kg/m²), it is
  precipitating, or the forecast shows precipitation of at least 0.1 mm with
  air at or below 2 °C within `preheat_h` hours (pre-heating: a cold slab
  needs hours to reach 0 °C). No risk: off.
- **Hysteresis**: with risk, an idle heater starts when the surface is below
  `on_below_c` (1 °C) and a running one stops only when the surface is above
  `off_above_c` (4 °C) or the risk is gone.
- **Budget**: the wanted segments are taken in order of priority (a hospital
  entrance before a car park); when the next one would take the city over
  `budget_kw`, it and every lower-priority one are shed.
- **Bad input**: a sensor whose surface or air temperature is out of physical
  range, jumps by more than `jump_k` between hours, or repeats one value for
  `stuck_n` readings while the air moved (a slab held at 0 °C by melting snow
  is not stuck) is flagged and reported (`report()`, in the service's state on
  `charter services list`). Its segment is not decided on that sensor: it runs
  on the thermostat rule (heat while the air is below `setpoint_c`, or on if
  the air reading is bad too) until an operator clears the flag.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from charter.commands.command import Command
from charter.domain.clock import Clock
from charter.services.actuator import Actuator
from charter.services.base import Intent, Reading, Service
from charter.services.sensors import Flag

CATEGORY = "surface.weather"
SET = "heater.set"
WET_KG_M2 = 0.05
SURFACE_RANGE = (-40.0, 60.0)
AIR_RANGE = (-45.0, 45.0)


class Forecast(Protocol):
    lead_h: int
    air_c: float
    precip_mm: float


#: sensor URN, now (ms) → the forecast for the sensor's place, hour by hour.
ForecastSource = Callable[[str, int], Sequence[Forecast]]


@dataclass(frozen=True)
class Segment:
    name: str
    heater: str  # the heater's device URN
    sensor: str  # the road weather sensor's device URN
    priority: int  # higher is kept longer
    area_m2: float
    power_w_m2: float = 350.0

    @property
    def load_kw(self) -> float:
        return self.area_m2 * self.power_w_m2 / 1000.0


@dataclass
class _Sensor:
    last: dict[str, float] = field(default_factory=dict)
    history: list[tuple[float, float]] = field(default_factory=list)  # (surface, air)
    flag: str | None = None


@dataclass
class SnowMelt(Service):
    segments: Sequence[Segment]
    forecast: ForecastSource
    budget_kw: float = float("inf")
    setpoint_c: float = 2.0
    on_below_c: float = 3.0
    off_above_c: float = 6.0
    preheat_h: int = 4
    jump_k: float = 12.0
    stuck_n: int = 6
    name: str = "snow-melt"
    categories: frozenset[str] = frozenset({CATEGORY})
    on: dict[str, bool] = field(default_factory=dict)  # heater → last asked
    why: dict[str, str] = field(default_factory=dict)  # heater → why, last decision
    sensors: dict[str, _Sensor] = field(default_factory=dict)
    #: The operator's side: each newly flagged sensor (`sensors.flag_reporter`).
    on_flag: Callable[[Flag], None] | None = None
    #: Has the operator released this flagged sensor (in any process)? The store's answer.
    released: Callable[[str], bool] | None = None

    @property
    def actuators(self) -> Sequence[str]:
        return [s.heater for s in self.segments]

    # -- input -------------------------------------------------------------------
    def on_readings(self, readings: Sequence[Reading], now_ms: int) -> list[Intent]:
        mine = {s.sensor for s in self.segments}
        for r in readings:
            if r.device_id in mine:
                self._take(r.device_id, r.values, r.observed_at_ms)
        return self.decide(now_ms)

    def _take(self, sensor: str, values: dict[str, Any], at_ms: int = 0) -> None:
        st = self.sensors.setdefault(sensor, _Sensor())
        if st.flag is not None and self.released is not None and self.released(sensor):
            st = self.sensors[sensor] = _Sensor()  # released by the operator, any process
        was = st.flag
        if not isinstance(values.get("surface_temp"), int | float) or not isinstance(
            values.get("air_temp"), int | float
        ):
            st.flag = st.flag or "a reading without its surface or air temperature"
            st.last = {"air_temp": math.nan}
            self._report(sensor, was, st.flag, math.nan, at_ms)
            return
        surface = float(values["surface_temp"])
        air = float(values["air_temp"])
        if st.flag is None:
            st.flag = self._check(st, surface, air)
            self._report(sensor, was, st.flag, surface, at_ms)
        st.last = {k: float(v) for k, v in values.items()}
        st.history = [*st.history, (surface, air)][-self.stuck_n :]

    def _check(self, st: _Sensor, surface: float, air: float) -> str | None:
        if not SURFACE_RANGE[0] <= surface <= SURFACE_RANGE[1]:
            return f"surface temperature {surface} °C is out of physical range"
        if not AIR_RANGE[0] <= air <= AIR_RANGE[1]:
            return f"air temperature {air} °C is out of physical range"
        if st.history:
            ps, pa = st.history[-1]
            if abs(surface - ps) > self.jump_k:
                return f"surface temperature jumped {ps} → {surface} °C in an hour"
            if abs(air - pa) > self.jump_k:
                return f"air temperature jumped {pa} → {air} °C in an hour"
        window = [*st.history, (surface, air)][-self.stuck_n :]
        if len(window) == self.stuck_n:
            surfaces = {s for s, _ in window}
            airs = [a for _, a in window]
            melting = surface == 0.0 and st.last.get("moisture", 0.0) > WET_KG_M2
            if len(surfaces) == 1 and max(airs) - min(airs) > 1.0 and not melting:
                return f"surface temperature stuck at {surface} °C for {self.stuck_n} readings"
        return None

    def _report(self, sensor: str, was: str | None, now: str | None, v: float, at: int) -> None:
        if was is None and now is not None and self.on_flag is not None:
            self.on_flag(Flag(sensor, flag_code(now), v, at))

    def clear_flag(self, sensor: str) -> None:
        """An operator checked the sensor: decide on it again."""
        if sensor in self.sensors:
            self.sensors[sensor] = _Sensor()

    def report(self) -> dict[str, Any]:
        flagged = {s: st.flag for s, st in sorted(self.sensors.items()) if st.flag}
        return {
            "flagged_sensors": flagged,
            "shed": sorted(h for h, w in self.why.items() if w == "shed"),
        }

    # -- the decision -------------------------------------------------------------
    def decide(self, now_ms: int) -> list[Intent]:
        wanted: dict[str, tuple[bool, str]] = {}
        for seg in self.segments:
            wanted[seg.heater] = self._want(seg, now_ms)
        used = 0.0
        shedding = False
        intents = []
        for seg in sorted(self.segments, key=lambda s: -s.priority):
            want, why = wanted[seg.heater]
            if want and (shedding or used + seg.load_kw > self.budget_kw):
                shedding = True
                want, why = False, "shed"
            if want:
                used += seg.load_kw
            self.on[seg.heater], self.why[seg.heater] = want, why
            intents.append(Intent(seg.heater, SET, {"on": want, "why": why}))
        return intents

    def _want(self, seg: Segment, now_ms: int) -> tuple[bool, str]:
        st = self.sensors.get(seg.sensor)
        if st is None or not st.last:
            return False, "no reading yet"
        v = st.last
        if st.flag is not None:
            air = v.get("air_temp", 0.0)
            if "air" in st.flag or not AIR_RANGE[0] <= air <= AIR_RANGE[1]:
                return True, "sensor flagged: heating to be safe"
            return air < self.setpoint_c, "sensor flagged: thermostat rule"
        wet = v.get("moisture", 0.0) > WET_KG_M2 or v.get("precip", 0.0) > 0
        soon = any(
            f.lead_h <= self.preheat_h and f.precip_mm >= 0.1 and f.air_c <= 2.0
            for f in self.forecast(seg.sensor, now_ms)
        )
        if not (wet or soon):
            return False, "dry, nothing forecast"
        surface = v["surface_temp"]
        cold = v.get("air_temp", 0.0) <= 2.0
        if v.get("precip", 0.0) > 0 and cold:
            return surface < self.off_above_c, "snow or freezing rain falling"
        why = "wet surface" if wet else "pre-heating"
        if self.on.get(seg.heater, False):
            return surface < self.off_above_c, why
        return surface < self.on_below_c, why


def flag_code(why: str) -> str:
    """The short code of a flag's sentence, for the ledger and the store."""
    for word, code in (("range", "out_of_range"), ("jumped", "jump"), ("stuck", "stuck")):
        if word in why:
            return code
    return "missing"


class SegmentHeater(Actuator):
    """A sidewalk heater: the platform's on/off, or alone its local thermostat."""

    def __init__(
        self,
        device_id: str,
        platform_key_b64: str,
        clock: Clock,
        *,
        setpoint_c: float = 2.0,
        max_silence: timedelta = timedelta(minutes=90),
    ) -> None:
        super().__init__(device_id, platform_key_b64, clock, max_silence)
        self.setpoint_c = setpoint_c
        self.air_c = 10.0  # its own air thermometer, read by its thermostat
        self.remote_on = False

    @property
    def on(self) -> bool:
        return self.air_c < self.setpoint_c if self.watchdog.safe else self.remote_on

    def apply(self, cmd: Command) -> None:
        if cmd.action == SET:
            self.remote_on = bool(cmd.params.get("on", False))

    def enter_safe_mode(self, why: str) -> None:
        self.remote_on = False  # the thermostat decides from now on

    def leave_safe_mode(self) -> None:
        pass
