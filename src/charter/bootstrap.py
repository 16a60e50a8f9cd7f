"""The one place that wires Charter together from a store, a bus, a clock and keys.

Tests build a Platform with their own parts; the CLI builds it from Settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from charter.bus.base import TOPIC_REGISTRY, Bus
from charter.bus.memory import InProcessBus
from charter.domain.clock import Clock, SystemClock
from charter.domain.trust import TrustPolicy
from charter.gate.authenticate import Window
from charter.gate.decode import Limits
from charter.gate.directory import DeviceDirectory
from charter.gate.pipeline import Gate, GateConfig, GateObserver
from charter.gate.quarantine import Quarantine
from charter.gate.validate import ReadingWindow
from charter.keys import SigningKey, load_or_create
from charter.ledger.log import Ledger
from charter.registry.service import Registry
from charter.settings import Settings
from charter.store.base import Store
from charter.store.sqlite import SqliteStore


@dataclass
class Platform:
    settings: Settings
    store: Store
    bus: Bus
    clock: Clock
    ledger: Ledger
    registry: Registry
    directory: DeviceDirectory
    gate: Gate
    quarantine: Quarantine

    def close(self) -> None:
        self.store.close()
        close_bus = getattr(self.bus, "close", None)
        if close_bus is not None:
            close_bus()


def ledger_key_path(settings: Settings) -> Path:
    return settings.data_dir / "keys" / "ledger.pem"


def ledger_key_name(settings: Settings) -> str:
    """Checkpoints are signed under the origin's host name."""
    return settings.ledger_origin.split("/")[0]


def open_store(settings: Settings) -> Store:
    """The store the settings choose: SQLite by default, PostgreSQL by URL."""
    url = settings.database_url
    if url is None:
        return SqliteStore(settings.database_path, synchronous=settings.sqlite_synchronous)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return SqliteStore(parsed.database, synchronous=settings.sqlite_synchronous)
    if parsed.get_backend_name() in {"postgresql", "postgres"}:
        from charter.store.postgres import PostgresStore

        return PostgresStore(url)
    raise ValueError(f"unsupported database_url scheme: {url.split(':', 1)[0]!r}")


def open_bus(settings: Settings) -> Bus:
    """The bus the settings choose: in-process by default, NATS JetStream by URL."""
    url = settings.bus_url
    if url is None:
        return InProcessBus()
    if url.startswith(("nats://", "tls://")):
        from charter.bus.nats import NatsBus, NatsLink, Subjects

        return NatsBus(NatsLink(url), Subjects(settings.bus_prefix))
    raise ValueError(f"unsupported bus_url scheme: {url.split(':', 1)[0]!r}")


def gate_config(settings: Settings) -> GateConfig:
    return GateConfig(
        limits=Limits(settings.max_envelope_bytes, settings.max_readings),
        window=Window(settings.max_envelope_age_s * 1000, settings.max_clock_skew_s * 1000),
        reading_window=ReadingWindow(
            settings.max_reading_age_s * 1000, settings.max_clock_skew_s * 1000
        ),
    )


def build(
    settings: Settings,
    *,
    store: Store | None = None,
    bus: Bus | None = None,
    clock: Clock | None = None,
    ledger_key: SigningKey | None = None,
    observer: GateObserver | None = None,
) -> Platform:
    store = store or open_store(settings)
    bus = bus or open_bus(settings)
    clock = clock or SystemClock()
    key = ledger_key or load_or_create(ledger_key_path(settings), ledger_key_name(settings))
    ledger = Ledger(store, key, settings.ledger_origin, clock)
    policy = TrustPolicy(
        required_certifications=frozenset(settings.required_certifications),
        denied_jurisdictions=frozenset(settings.denied_jurisdictions),
    )
    registry = Registry(store, ledger, bus, policy)
    directory = DeviceDirectory(store)
    bus.subscribe(TOPIC_REGISTRY, lambda _topic, _msg: directory.invalidate())
    gate = Gate(store, bus, clock, directory, config=gate_config(settings), observer=observer)
    return Platform(
        settings,
        store,
        bus,
        clock,
        ledger,
        registry,
        directory,
        gate,
        Quarantine(store, gate, ledger),
    )
