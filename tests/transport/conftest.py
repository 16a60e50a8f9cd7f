"""Fixtures on the real services: a fresh PostgreSQL database, NATS with unique names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from charter.bootstrap import Platform, build
from charter.device import DeviceSigner
from charter.domain.model import Device, Location, urn
from charter.settings import Settings
from charter.sim.city import AIR, TRUSTED
from tests.conftest import OPERATOR, SampleCity
from tests.services import pg_database


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg_database() as url:
        yield url


@pytest.fixture
def pg_platform(tmp_path: Path, pg_url: str) -> Iterator[Platform]:
    """A platform on PostgreSQL with the system clock (workers in other processes share it)."""
    p = build(Settings(data_dir=tmp_path / "data", database_url=pg_url))
    yield p
    p.close()


@pytest.fixture
def pg_city(pg_platform: Platform) -> SampleCity:
    return SampleCity(pg_platform)


def air_devices(platform: Platform, n: int, prefix: str = "air") -> list[DeviceSigner]:
    signers = [DeviceSigner(urn("Device", f"{prefix}-{i:03d}")) for i in range(n)]
    for i, s in enumerate(signers):
        platform.registry.register_device(
            Device(
                id=s.device_id,
                vendor_id=TRUSTED,
                project_id=AIR,
                modality="air",
                location=Location(lat=52.36, lon=4.86 + i / 100_000),
                categories=["air.quality"],
                public_key=s.public_key_b64,
            ),
            OPERATOR,
        )
    return signers
