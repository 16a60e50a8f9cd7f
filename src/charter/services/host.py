"""Runs the city services: who may run, what they receive, and what they send.

A service receives admitted readings only while (checked on every batch, from
the store, so a change made by any process counts at the next batch):

- it has an entry on the public algorithm register, whose `data_used` lists
  every category it consumes (without one it is refused at `add`);
- the entry's project is live and declares each of those categories;
- it is not disabled by the two-person rule (`disable_service`).

It receives its project's non-personal readings and, of a personal category
it declared with a purpose (`Service.purposes`), only what the one door for
personal data (`PersonalFeed`, `rights/feed.py`) lets through: readings of
residents who consent to that purpose now, minimised to a pseudonym. Everything it asks for
is signed by the platform's command key (`commands/signer.py`) and sent over a
`Channel`; every actuator it commands gets a heartbeat each `heartbeat_s`, so
that an actuator whose service stops (or whose platform is lost) falls back to
its own safe mode within its `max_silence`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from charter.bus.base import TOPIC_READINGS, Bus
from charter.commands.signer import CommandSigner
from charter.domain.algorithm import AlgorithmEntry
from charter.domain.clock import Clock, to_ms
from charter.domain.errors import CharterError
from charter.domain.model import ProjectStatus
from charter.domain.reasons import Reason
from charter.services.actuator import HEARTBEAT, Channel
from charter.services.base import Intent, Reading, Service
from charter.services.metrics import ServiceMetrics
from charter.store.base import ReadingRow, Store
from charter.store.services import ServiceState

RUNNING, WAITING, DISABLED, STOPPED = "running", "waiting", "disabled", "stopped"
_decode = msgspec.json.Decoder(dict[str, Any]).decode  # a reading's values (a JSON object)


class PersonalFeed(Protocol):
    """The one door for personal readings to a service (`rights.feed.ServiceFeed`)."""

    def admit(
        self,
        service: str,
        project_id: str,
        purposes: Mapping[str, str],
        rows: Sequence[ReadingRow],
    ) -> list[Reading]: ...


@dataclass
class _Hosted:
    service: Service
    entry: AlgorithmEntry
    state: str = STOPPED
    why: str = "not started"
    last_heartbeat: float = float("-inf")  # monotonic seconds
    version: int = -2  # the register version the decision below was made at
    allowed: frozenset[str] | None = None
    personal: frozenset[str] = frozenset()  # of `allowed`, the personal categories


class ServiceHost:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        signer: CommandSigner,
        clock: Clock,
        channel: Channel,
        *,
        is_disabled: Callable[[str], bool],
        heartbeat_s: float,
        metrics: ServiceMetrics | None = None,
        monotonic: Callable[[], float] | None = None,
        personal: PersonalFeed | None = None,
    ) -> None:
        self.store, self.bus, self.signer, self.clock = store, bus, signer, clock
        self.channel, self.is_disabled, self.heartbeat_s = channel, is_disabled, heartbeat_s
        self.metrics = metrics or ServiceMetrics()
        self.personal = personal
        # Intervals (heartbeats) on a steady clock: the clock's own if it has one (a
        # simulation's), else the process's monotonic clock, never the wall clock.
        steady = getattr(clock, "monotonic", None)
        self.monotonic = monotonic or (steady if callable(steady) else time.monotonic)
        self._hosted: dict[str, _Hosted] = {}
        self._lock = threading.Lock()  # one batch or tick at a time: services keep state
        self._subscribed = False

    # -- lifecycle ------------------------------------------------------------
    def add(self, service: Service) -> None:
        """Host a service; refused unless it is on the algorithm register as it runs."""
        entry = self.store.get_algorithm(service.name)
        if entry is None:
            raise CharterError(
                Reason.NO_ALGORITHM_ENTRY,
                f"service {service.name!r} has no entry on the algorithm register",
            )
        unlisted = sorted((service.categories | set(service.purposes)) - set(entry.data_used))
        if unlisted:
            raise CharterError(
                Reason.SERVICE_DATA_UNDECLARED,
                f"service {service.name!r} consumes {', '.join(unlisted)}, "
                "which its register entry does not list",
            )
        with self._lock:
            self._hosted[service.name] = _Hosted(service, entry)

    def start(self) -> None:
        """Begin receiving admitted readings (once) and decide who may run."""
        if not self._subscribed:
            self.bus.subscribe(TOPIC_READINGS, self._on_readings)
            self._subscribed = True
        self.tick()

    @property
    def services(self) -> list[Service]:
        return [h.service for h in self._hosted.values()]

    def state_of(self, name: str) -> str:
        return self._hosted[name].state

    # -- the admitted-readings feed --------------------------------------------
    def _on_readings(self, _topic: str, rows: Sequence[ReadingRow]) -> None:
        with self._lock:
            version = self.store.read_register_version()  # one read per batch, for all
            for hosted in self._hosted.values():
                self._feed(hosted, rows, version)

    def _feed(self, hosted: _Hosted, rows: Sequence[ReadingRow], version: int) -> None:
        started = time.perf_counter()
        service = hosted.service
        allowed = self._check(hosted, version)
        if allowed is None:
            self.metrics.skipped.labels(service.name, hosted.state).inc()
            return
        project_id, personal = hosted.entry.project_id, hosted.personal
        readings = [
            Reading(r[0], r[1], r[2], r[3], r[4], r[5], _decode(r[6]))
            for r in rows
            if r[1] == project_id and r[2] in allowed and r[2] not in personal
        ]
        if personal and self.personal is not None:
            mine = [r for r in rows if r[1] == project_id and r[2] in personal]
            if mine:
                readings += self.personal.admit(service.name, project_id, service.purposes, mine)
        if not readings:
            return
        service.on_register_version(version)
        intents = service.on_readings(readings, to_ms(self.clock.now()))
        self._send(hosted, intents)
        self.metrics.decision.labels(service.name).observe(time.perf_counter() - started)
        service.after_send()  # its records of what it decided, right after the commands

    def _check(self, hosted: _Hosted, version: int) -> frozenset[str] | None:
        """The categories the service may receive now, or None if it may not run.

        Every change it depends on (the project's status and categories, a
        disabled service, the register entry) bumps the register's version in
        the store (`read_register_version`, read once per batch): the decision
        is re-made when another writer, in any process, moved it. (Not the
        ledger's head: the services' own records move that at every decision.)
        """
        if hosted.version == version:
            return hosted.allowed
        hosted.version = version
        hosted.allowed = self._decide(hosted)
        return hosted.allowed

    def _decide(self, hosted: _Hosted) -> frozenset[str] | None:
        service, entry = hosted.service, hosted.entry
        project = self.store.get_project(entry.project_id)
        if self.is_disabled(service.name):
            state, why = DISABLED, "disabled by the two-person rule"
        elif project is None or project.status is not ProjectStatus.LIVE:
            state, why = WAITING, "its project is not live"
        else:
            declared = {c.name: c for c in project.categories}
            missing = [c for c in service.categories | set(service.purposes) if c not in declared]
            if missing:
                state, why = WAITING, "its project does not declare " + ", ".join(sorted(missing))
            else:
                state, why = RUNNING, "running"
        if hosted.state == RUNNING and state != RUNNING:
            service.on_stop()
        hosted.state, hosted.why = state, why
        if state != RUNNING:
            return None
        # Personal readings reach a service only through the purpose-bound door
        # (`PersonalFeed`), and only of the categories it declared a purpose for.
        hosted.personal = frozenset(c for c in service.purposes if declared[c].personal)
        plain = frozenset(c for c in service.categories if not declared[c].personal)
        return plain | hosted.personal

    # -- commands -------------------------------------------------------------
    def _send(self, hosted: _Hosted, intents: list[Intent]) -> None:
        own = set(hosted.service.actuators)
        for intent in intents:
            if intent.target not in own:
                # A service commands only the actuators it declared.
                self.metrics.skipped.labels(hosted.service.name, "foreign_actuator").inc()
                continue
            self._sign_and_send(hosted.service.name, intent.target, intent.action, intent.params)

    def _sign_and_send(
        self, service: str, target: str, action: str, params: dict[str, Any]
    ) -> None:
        signed = self.signer.sign(target, action, params)
        self.channel.send(target, signed.to_wire())
        self.metrics.commands.labels(service, action).inc()

    # -- the periodic part ----------------------------------------------------
    def tick(self) -> None:
        """Timers, heartbeats and reported states; call at least every heartbeat_s / 2."""
        now_ms = to_ms(self.clock.now())
        mono = self.monotonic()
        with self._lock:
            version = self.store.read_register_version()
            for hosted in self._hosted.values():
                if self._check(hosted, version) is None:
                    continue  # no heartbeat: its actuators fall back to their own mode
                hosted.service.on_register_version(version)
                self._send(hosted, hosted.service.on_tick(now_ms))
                hosted.service.after_send()
                if mono - hosted.last_heartbeat >= self.heartbeat_s:
                    hosted.last_heartbeat = mono
                    for target in hosted.service.actuators:
                        self._sign_and_send(hosted.service.name, target, HEARTBEAT, {})
            states = [self._state(h, now_ms) for h in self._hosted.values()]
        for state in states:
            self.store.put_service_state(state)

    def _state(self, hosted: _Hosted, now_ms: int) -> ServiceState:
        actuators = getattr(self.channel, "actuators", {})
        detail: dict[str, Any] = {
            "project_id": hosted.entry.project_id,
            "why": hosted.why,
            "actuators": {
                a: (actuators[a].state if a in actuators else "unknown")
                for a in hosted.service.actuators
            },
        }
        report = hosted.service.report()
        if report:
            detail["report"] = report
        return ServiceState(hosted.service.name, hosted.state, detail, now_ms)

    def run(self, stop: threading.Event) -> None:
        """Tick until `stop` is set (a thread of `charter serve`)."""
        while not stop.wait(self.heartbeat_s / 2):
            self.tick()
