"""Shared fixtures: a real platform on a fresh SQLite file, with a clock tests control."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from charter.bootstrap import Platform, build
from charter.device import DeviceSigner, SimReading
from charter.domain.clock import FixedClock
from charter.domain.model import Actor, Device, DeviceStatus, Location, urn
from charter.settings import Settings
from charter.sim import city as sample

OPERATOR = Actor(name="test-operator", role="operator")
COUNCIL = Actor(name="test-council", role="council")
START = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def platform(tmp_path: Path, clock: FixedClock) -> Iterator[Platform]:
    p = build(Settings(data_dir=tmp_path / "data"), clock=clock)
    yield p
    p.close()


class SampleCity:
    """The sample city's vendors and projects, and a few devices with known keys."""

    def __init__(self, platform: Platform, *, services: bool = False) -> None:
        self.platform = platform
        # Consulted in the past, decided now (sample.register_projects replays the history);
        # the flood project's consultation has just ended and awaits the council.
        # `services` adds the city services' own projects (warm sidewalks).
        sample.register_projects(platform.registry, consultation_over=True, services=services)
        self.air = self.device("air", sample.TRUSTED, sample.AIR, ["air.quality"])
        self.traffic = self.device(
            "traffic",
            sample.TRUSTED,
            sample.TRAFFIC,
            ["traffic.count", "pedestrian.crossing_request"],
        )
        self.flood = self.device("flood", sample.TRUSTED, sample.FLOOD, ["water.level"])
        self.untrusted = self.device("shady", sample.UNTRUSTED, sample.AIR, ["air.quality"])
        self.seqs: dict[str, int] = {}

    def device(self, name: str, vendor: str, project: str, categories: list[str]) -> DeviceSigner:
        signer = DeviceSigner(urn("Device", name))
        self.platform.registry.register_device(
            Device(
                id=signer.device_id,
                vendor_id=vendor,
                project_id=project,
                modality="test",
                location=Location(lat=52.36, lon=4.9),
                categories=categories,
                public_key=signer.public_key_b64,
            ),
            OPERATOR,
        )
        return signer

    def grow_ledger(self, n: int) -> None:
        """Append n real entries: the traffic device suspended and re-activated, with reasons."""
        device = self.traffic.device_id
        for _ in range(n):
            current = self.platform.store.get_device(device)
            assert current is not None
            suspended = current.status is DeviceStatus.SUSPENDED
            new = DeviceStatus.ACTIVE if suspended else DeviceStatus.SUSPENDED
            why = f"toggle {self.platform.ledger.size}"
            self.platform.registry.set_device_status(device, new, OPERATOR, why)

    def envelope(
        self,
        signer: DeviceSigner,
        readings: list[SimReading] | None = None,
        *,
        seq: int | None = None,
        sent_at: datetime | None = None,
    ) -> bytes:
        now = self.platform.clock.now()
        if seq is None:
            seq = self.seqs.get(signer.device_id, 0) + 1
        self.seqs[signer.device_id] = max(seq, self.seqs.get(signer.device_id, 0))
        if readings is None:
            readings = [air_reading(now)]
        return signer.envelope(seq, sent_at or now, readings)


def air_reading(t: datetime, pm25: object = 12.5, **extra: object) -> SimReading:
    return SimReading(
        "air.quality", t, {"pm25": pm25, "no2": 20.0, **extra}, {"pm25": "ug/m3", "no2": "ug/m3"}
    )


@pytest.fixture
def city(platform: Platform) -> SampleCity:
    return SampleCity(platform)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_platform(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock
) -> Iterator[Platform]:
    """A platform on SQLite, then on a fresh PostgreSQL database."""
    from tests.services import pg_database

    if request.param == "sqlite":
        p = build(Settings(data_dir=tmp_path / "data"), clock=clock)
        yield p
        p.close()
        return
    with pg_database() as url:
        p = build(Settings(data_dir=tmp_path / "data", database_url=url), clock=clock)
        yield p
        p.close()
