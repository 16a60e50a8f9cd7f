"""The services framework: who may run, what reaches a service, what it sends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from charter.bootstrap import Platform, build
from charter.device import SimReading
from charter.domain.clock import FixedClock
from charter.domain.errors import CharterError
from charter.domain.model import Actor, ProjectStatus
from charter.domain.reasons import Reason
from charter.security.approvals import ActionKind
from charter.sim import city as sample
from tests.city_services.helpers import (
    OPERATOR,
    SIGNAL,
    QueueService,
    entry,
    host_with_signal,
)
from tests.conftest import SampleCity

COUNCIL = Actor(name="test-council", role="council")


def count(city: SampleCity, vehicles: int) -> bytes:
    now = city.platform.clock.now()
    reading = SimReading(
        "traffic.count",
        now,
        {"vehicles": vehicles, "mean_speed": 30.0},
        {"vehicles": "count", "mean_speed": "km/h"},
    )
    return city.envelope(city.traffic, [reading])


def test_a_service_without_a_register_entry_does_not_start(platform: Platform) -> None:
    with pytest.raises(CharterError) as refused:
        platform.services.add(QueueService())
    assert refused.value.reason is Reason.NO_ALGORITHM_ENTRY


def test_a_service_may_consume_only_what_its_entry_lists(city: SampleCity) -> None:
    p = city.platform
    p.algorithms.register(entry(["traffic.count"]), OPERATOR, "entry")
    greedy = QueueService()
    greedy.categories = frozenset({"traffic.count", "air.quality"})
    with pytest.raises(CharterError) as refused:
        p.services.add(greedy)
    assert refused.value.reason is Reason.SERVICE_DATA_UNDECLARED


def test_an_entry_may_list_only_what_its_project_declared(city: SampleCity) -> None:
    with pytest.raises(CharterError) as refused:
        city.platform.algorithms.register(entry(["air.quality"]), OPERATOR, "entry")
    assert refused.value.reason is Reason.SERVICE_DATA_UNDECLARED
    assert city.platform.algorithms.list() == []


def test_registering_an_entry_is_on_the_ledger(city: SampleCity) -> None:
    p = city.platform
    before = p.ledger.size
    p.algorithms.register(entry(), OPERATOR, "publish the queue service")
    assert p.ledger.size == before + 1
    assert p.algorithms.get("queue-green").project_id == sample.TRAFFIC


def test_an_admitted_reading_becomes_a_verified_command(city: SampleCity) -> None:
    service, controller = host_with_signal(city.platform)
    [out] = city.platform.gate.ingest([count(city, 25)])
    assert out.admitted == 1
    assert [r.values["vehicles"] for r in service.seen] == [25]
    assert [c.action for c in controller.applied] == ["signal.extend_green"]
    assert controller.applied[0].params == {"seconds": 10}
    assert controller.mode == "remote"  # it heard the platform


def test_readings_of_other_projects_do_not_reach_the_service(city: SampleCity) -> None:
    service, _ = host_with_signal(city.platform)
    [out] = city.platform.gate.ingest([city.envelope(city.air)])
    assert out.admitted == 1
    assert service.seen == []


def test_a_forged_or_expired_command_changes_nothing(city: SampleCity) -> None:
    p = city.platform
    _, controller = host_with_signal(p)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from charter.commands.signer import CommandSigner
    from charter.keys import SigningKey

    forger = CommandSigner(lambda: SigningKey("forger", Ed25519PrivateKey.generate()), p.clock, 30)
    assert controller.receive(forger.sign(SIGNAL, "signal.all_green", {}).to_wire()) is None
    stale = p.security.commands.sign(SIGNAL, "signal.all_green", {})
    assert isinstance(p.clock, FixedClock)
    p.clock.advance(timedelta(seconds=31))
    assert controller.receive(stale.to_wire()) is None
    assert [c.action for c in controller.applied] == []
    assert controller.refused == {"bad_signature": 1, "expired": 1}


def test_a_retired_project_stops_its_service_and_its_actuators_fall_back(
    city: SampleCity,
) -> None:
    p = city.platform
    service, controller = host_with_signal(p)
    assert controller.mode == "remote"
    p.registry.set_project_status(sample.TRAFFIC, ProjectStatus.RETIRED, OPERATOR, "ended")
    p.services.tick()
    assert p.services.state_of("queue-green") == "waiting"
    assert service.stopped == 1
    assert isinstance(p.clock, FixedClock)
    for _ in range(4):  # no heartbeats any more: the controller is on its own
        p.clock.advance(timedelta(seconds=1))
        p.services.tick()
        controller.tick()
    assert controller.mode == "fixed-time"


def test_heartbeats_keep_a_controller_on_remote_and_an_outage_trips_it(
    city: SampleCity,
) -> None:
    p = city.platform
    mono = [0.0]
    _, controller = host_with_signal(p, lambda: mono[0])
    clock = p.clock
    assert isinstance(clock, FixedClock)
    for _ in range(10):
        clock.advance(timedelta(seconds=1))
        mono[0] += 1
        p.services.tick()
        assert not controller.tick()
    p.services.channel.up = False  # type: ignore[attr-defined]
    tripped_after = 0
    while not controller.tick():
        clock.advance(timedelta(seconds=1))
        mono[0] += 1
        p.services.tick()
        tripped_after += 1
    assert tripped_after <= 3  # max_silence, with no platform needed
    assert controller.mode == "fixed-time"
    p.services.channel.up = True  # type: ignore[attr-defined]
    mono[0] += 1
    p.services.tick()  # the next verified heartbeat brings it back
    assert controller.mode == "remote"


def test_disable_service_stops_it_in_every_process(city: SampleCity, tmp_path) -> None:
    p = city.platform
    service, controller = host_with_signal(p)
    # A second process over the same store: another platform, another host.
    other = build(p.settings, clock=p.clock)
    try:
        other_service = QueueService()
        other.services.add(other_service)
        other.services.start()
        assert other.services.state_of("queue-green") == "running"
        action = other.security.approvals.propose(
            ActionKind.DISABLE_SERVICE, {"service": "queue-green"}, OPERATOR, "misbehaves"
        )
        other.security.approvals.approve(action.id, COUNCIL, "agreed")
        [out] = p.gate.ingest([count(city, 30)])
        assert out.admitted == 1
        assert service.seen == []  # disabled: nothing reaches it
        assert controller.applied == []
        assert p.services.state_of("queue-green") == "disabled"
        other.services.tick()
        assert other.services.state_of("queue-green") == "disabled"
    finally:
        other.close()


def test_decision_latency_is_a_histogram_at_metrics(city: SampleCity) -> None:
    from fastapi.testclient import TestClient

    from charter.api.app import create_app

    host_with_signal(city.platform)
    city.platform.gate.ingest([count(city, 25)])
    with TestClient(create_app(city.platform)) as client:
        text = client.get("/metrics").text
    assert 'charter_service_decision_seconds_count{service="queue-green"} 1.0' in text
    assert (
        'charter_service_commands_total{action="signal.extend_green",service="queue-green"}' in text
    )


def test_services_list_shows_service_project_and_actuators(city: SampleCity) -> None:
    import json

    from typer.testing import CliRunner

    from charter.cli import app

    host_with_signal(city.platform)
    city.platform.services.tick()
    data_dir = city.platform.settings.data_dir
    result = CliRunner().invoke(app, ["services", "list", "--json", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output.strip().splitlines()[-1])["services"]
    assert row["service"] == "queue-green"
    assert row["project"] == sample.TRAFFIC
    assert row["state"] == "running"
    assert row["actuators"] == {SIGNAL: "remote"}


def test_the_algorithm_register_is_public(city: SampleCity) -> None:
    from fastapi.testclient import TestClient

    from charter.api.app import create_app

    city.platform.algorithms.register(entry(), OPERATOR, "publish")
    with TestClient(create_app(city.platform)) as client:
        [listed] = client.get("/register/algorithms").json()
        assert listed["how_it_decides"].startswith("When a loop counts")
        assert client.get("/register/algorithms/no-such").status_code == 404
        assert (
            client.put(
                "/register/algorithms/queue-green", params={"why": "x"}, json=listed
            ).status_code
            == 401
        )
