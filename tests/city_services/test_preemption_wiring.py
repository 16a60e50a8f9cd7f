"""Preemption's data path: the register from in-memory copies checked against the
register's version, and the status records written right after the commands."""

from __future__ import annotations

from typing import Any

from charter.bootstrap import Platform
from charter.domain.clock import FixedClock
from charter.domain.model import DeviceStatus, ProjectStatus
from charter.domain.reasons import Reason
from charter.services.preemption_register import RegisterCheck
from charter.sim import city as sample
from tests.city_services.test_preemption import A, Scene


def test_the_register_check_follows_every_change_at_the_next_batch(
    platform: Platform, clock: FixedClock
) -> None:
    scene = Scene(platform, clock)
    check = RegisterCheck(platform.store, sample.EMERGENCY)
    v = scene.vehicle("amb-1")
    check.refresh()
    assert check(v) is None
    assert check("urn:ngsi-ld:Device:nobody") is Reason.NOT_REGISTERED
    traffic = scene.city.device("loop-x", sample.TRUSTED, sample.TRAFFIC, ["traffic.count"])
    check.refresh()
    assert check(traffic.device_id) is Reason.NOT_REGISTERED  # another project's device
    platform.registry.set_device_status(v, DeviceStatus.SUSPENDED, sample.SEEDER, "stolen")
    check.refresh()  # the register's version moved: the copies are read again
    assert check(v) is Reason.DEVICE_SUSPENDED
    platform.registry.set_device_status(v, DeviceStatus.ACTIVE, sample.SEEDER, "found")
    platform.registry.set_project_status(
        sample.EMERGENCY, ProjectStatus.RETIRED, sample.SEEDER, "pilot over"
    )
    check.refresh(platform.store.read_register_version())  # as the host hands it over
    assert check(v) is Reason.PROJECT_NOT_LIVE


def test_statuses_are_sent_first_and_on_the_record_when_the_batch_returns(
    platform: Platform, clock: FixedClock
) -> None:
    scene = Scene(platform, clock)
    scene.service.vehicle_check = RegisterCheck(platform.store, sample.EMERGENCY)
    scene.vehicle("amb-1")
    _, onboard = scene.units["amb-1"]
    recorded_when_received: list[int] = []
    apply = onboard.apply

    def watch(cmd: Any) -> None:
        recorded_when_received.append(len(scene.ledger()))
        apply(cmd)

    onboard.apply = watch  # type: ignore[method-assign]
    assert scene.send("amb-1", message="request").admitted == 1
    # The vehicle had its statuses before they were written, and once the gate's
    # ingest returned every one of them is on the ledger.
    assert recorded_when_received and set(recorded_when_received) == {0}
    sent = [(m["intersection"], m["status"]) for m in scene.ssm("amb-1")]
    assert (A, "granted") in sent
    assert [(e["intersection"], e["status"]) for e in scene.ledger()] == sent
