"""A service in another process hears the gate over NATS (real broker, real PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from charter.bootstrap import Platform, build
from charter.bus.nats import NatsBus, NatsLink, Subjects
from charter.device import SimReading
from charter.settings import Settings
from charter.transport.mqtt import wait_until
from tests.city_services.helpers import OPERATOR, entry, host_with_signal
from tests.conftest import SampleCity
from tests.services import need, pg_database, port_open, unique


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[tuple[Platform, Platform]]:
    need(port_open(4222), "NATS is not running on 127.0.0.1:4222")
    subjects = Subjects(unique("svc"))
    with pg_database() as url:
        gate = build(
            Settings(data_dir=tmp_path / "gate", database_url=url),
            bus=NatsBus(NatsLink("nats://127.0.0.1:4222"), subjects),
        )
        host = build(
            Settings(data_dir=tmp_path / "services", database_url=url),
            bus=NatsBus(NatsLink("nats://127.0.0.1:4222"), subjects),
        )
        try:
            yield gate, host
        finally:
            host.close()
            gate.close()


def test_a_service_hears_admitted_readings_from_another_process(
    two_processes: tuple[Platform, Platform],
) -> None:
    gate, host = two_processes
    city = SampleCity(gate)
    gate.algorithms.register(entry(), OPERATOR, "the queue service")
    service, controller = host_with_signal(host)
    now = gate.clock.now()
    reading = SimReading(
        "traffic.count",
        now,
        {"vehicles": 40, "mean_speed": 25.0},
        {"vehicles": "count", "mean_speed": "km/h"},
    )
    [out] = gate.gate.ingest([city.envelope(city.traffic, [reading])])
    assert out.admitted == 1
    assert wait_until(lambda: len(controller.applied) == 1, 5)
    assert [r.values["vehicles"] for r in service.seen] == [40]
    assert controller.applied[0].action == "signal.extend_green"
