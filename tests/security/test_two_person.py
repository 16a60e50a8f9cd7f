"""Adversarial: a two-person action attempted by one person; bulk reads of personal data."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from charter.api.app import create_app
from charter.auth import Role
from charter.bootstrap import Platform, build
from charter.device import SimReading
from charter.domain.clock import FixedClock
from charter.domain.errors import CharterError
from charter.domain.model import Actor, DeviceStatus
from charter.domain.reasons import Reason
from charter.security.approvals import ActionKind
from charter.settings import Settings
from charter.sim import city as sample
from tests.api.support import assert_problem, bearer
from tests.conftest import SampleCity

ALICE = Actor(name="alice", role="operator")
BOB = Actor(name="bob", role="council")


def kinds(platform: Platform) -> list[str]:
    return [e.kind for e in platform.store.ledger_entries(0, platform.ledger.size)]


def test_one_person_cannot_revoke_a_vendors_fleet_alone(
    platform: Platform, city: SampleCity
) -> None:
    approvals = platform.security.approvals
    action = approvals.propose(
        ActionKind.REVOKE_VENDOR_FLEET, {"vendor_id": sample.UNTRUSTED}, ALICE, "compromised"
    )
    with pytest.raises(CharterError) as e:
        approvals.approve(action.id, ALICE, "me again")
    assert e.value.reason is Reason.SAME_PERSON
    device = platform.store.get_device(city.untrusted.device_id)
    assert device is not None and device.status is DeviceStatus.ACTIVE
    assert kinds(platform)[-2:] == ["approval.proposed", "approval.refused_same_person"]

    done = approvals.approve(action.id, BOB, "confirmed by the CISO")
    assert done.status == "approved" and done.result == {"revoked": [city.untrusted.device_id]}
    device = platform.store.get_device(city.untrusted.device_id)
    assert device is not None and device.status is DeviceStatus.REVOKED
    # Only that vendor's devices: segmentation, not a kill switch.
    for signer in (city.air, city.traffic):
        d = platform.store.get_device(signer.device_id)
        assert d is not None and d.status is DeviceStatus.ACTIVE
    assert "approval.approved" in kinds(platform)
    with pytest.raises(CharterError) as e:
        approvals.approve(action.id, Actor(name="carol", role="operator"), "again")
    assert e.value.reason is Reason.CONFLICT


def test_a_role_not_authorised_cannot_propose_or_approve(
    platform: Platform, city: SampleCity
) -> None:
    approvals = platform.security.approvals
    resident = Actor(name="rita", role="resident")
    with pytest.raises(CharterError) as e:
        approvals.propose(ActionKind.DISABLE_SERVICE, {"service": "snowmelt"}, resident, "x")
    assert e.value.reason is Reason.FORBIDDEN
    action = approvals.propose(ActionKind.DISABLE_SERVICE, {"service": "snowmelt"}, ALICE, "x")
    with pytest.raises(CharterError) as e:
        approvals.approve(action.id, Actor(name="aud", role="auditor"), "x")
    assert e.value.reason is Reason.FORBIDDEN


def test_a_proposal_expires(platform: Platform, clock: FixedClock) -> None:
    approvals = platform.security.approvals
    action = approvals.propose(ActionKind.ROTATE_LEDGER_KEY, {}, ALICE, "yearly")
    clock.advance(timedelta(seconds=platform.settings.approval_ttl_s))
    with pytest.raises(CharterError) as e:
        approvals.approve(action.id, BOB, "late")
    assert e.value.reason is Reason.CONFLICT
    assert approvals.get(action.id).status == "expired"


def test_two_person_rule_over_http(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    alice = bearer(platform, Role.OPERATOR, "alice")
    bob = bearer(platform, Role.COUNCIL, "bob")
    r = client.post(
        "/approvals",
        json={"kind": "disable_service", "params": {"service": "signals"}, "why": "incident"},
        headers=alice,
    )
    assert r.status_code == 201, r.text
    action_id = r.json()["id"]
    r = client.post(f"/approvals/{action_id}/approve", json={"why": "me"}, headers=alice)
    assert_problem(r, 403, "SAME_PERSON")
    assert client.get("/approvals", headers=bob).json()[0]["status"] == "pending"
    r = client.post(f"/approvals/{action_id}/approve", json={"why": "agreed"}, headers=bob)
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert kinds(platform)[-1] == "service.disabled"


def _personal_city(
    tmp_path: Path, clock: FixedClock, threshold: int
) -> tuple[Platform, SampleCity]:
    p = build(Settings(data_dir=tmp_path / "d", bulk_read_threshold=threshold), clock=clock)
    return p, SampleCity(p)


def test_a_bulk_read_beyond_the_threshold_needs_a_second_person_and_raises_an_alert(
    tmp_path: Path, clock: FixedClock
) -> None:
    p, city = _personal_city(tmp_path, clock, threshold=3)
    # The core admits no personal data yet (no consent service until issue 4 lands), so
    # the air readings stand in for personal ones: the guard counts what may be personal.
    p.directory.may_be_personal = lambda category: True  # type: ignore[method-assign]
    now = clock.now()
    for _ in range(5):
        p.gate.ingest([city.envelope(city.air, [_air(now)])])
    with TestClient(create_app(p)) as c:
        thief = bearer(p, Role.AUDITOR, "stolen")
        r = c.get("/readings", params={"limit": 2}, headers=thief)
        assert r.status_code == 200 and len(r.json()["readings"]) == 2
        # Paging does not get round it: the window counts every read.
        r = c.get("/readings", params={"limit": 2, "after": 2}, headers=thief)
        assert_problem(r, 403, "BULK_READ_REFUSED")
        assert "charter_bulk_read_alerts_total 1.0" in c.get("/metrics").text
        [entry] = [e for e in p.store.ledger_entries(0, p.ledger.size) if e.kind.startswith("bulk")]
        data = json.loads(entry.data)
        assert (data["actor"]["name"], data["records"], data["threshold"]) == ("stolen", 2, 3)

        # With a second person's approval the read goes through, once.
        r = c.post(
            "/approvals",
            json={
                "kind": "bulk_read",
                "params": {"dataset": "readings", "max_records": 5},
                "why": "annual audit",
            },
            headers=thief,
        )
        action_id = r.json()["id"]
        r = c.post(f"/approvals/{action_id}/approve", json={"why": "ok"}, headers=thief)
        assert_problem(r, 403, "SAME_PERSON")
        council = bearer(p, Role.COUNCIL, "bob")
        assert c.post(
            f"/approvals/{action_id}/approve", json={"why": "ok"}, headers=council
        ).is_success
        params = {"limit": 5, "approval": action_id}
        r = c.get("/readings", params=params, headers=thief)
        assert r.status_code == 200 and len(r.json()["readings"]) == 5
        r = c.get("/readings", params=params, headers=thief)
        assert_problem(r, 403, "NEEDS_SECOND_PERSON")  # an approval is spent once
    p.close()


def _air(t):  # type: ignore[no-untyped-def]
    return SimReading(
        "air.quality", t, {"pm25": 1.0, "no2": 2.0}, {"pm25": "ug/m3", "no2": "ug/m3"}
    )


def test_two_approvers_racing_carry_an_action_out_once(
    platform: Platform, city: SampleCity, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second process read the action as pending just before the first approved it:
    its approval is refused under the ledger's lock, and the fleet is revoked once."""
    other = build(platform.settings, clock=platform.clock)
    try:
        action = platform.security.approvals.propose(
            ActionKind.REVOKE_VENDOR_FLEET, {"vendor_id": sample.UNTRUSTED}, ALICE, "compromised"
        )
        carol = Actor(name="carol", role="council")
        stale = other.security.approvals._pending(action.id, carol)  # read before BOB commits
        platform.security.approvals.approve(action.id, BOB, "confirmed")
        monkeypatch.setattr(other.security.approvals, "_pending", lambda *_: stale)
        with pytest.raises(CharterError) as e:
            other.security.approvals.approve(action.id, carol, "confirmed too")
        assert e.value.reason is Reason.CONFLICT
        assert kinds(platform).count("approval.approved") == 1
        assert platform.security.approvals.get(action.id).decided_by == "bob"
    finally:
        other.close()


def test_an_approved_action_that_fails_is_marked_failed_not_left_approved(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    approvals = platform.security.approvals
    action = approvals.propose(ActionKind.DISABLE_SERVICE, {"service": "snowmelt"}, ALICE, "x")

    def disk_full(*_: object) -> None:
        raise CharterError(Reason.STORAGE_UNAVAILABLE, "the disk is full")

    monkeypatch.setattr(platform.registry.services, "set", disk_full)
    with pytest.raises(CharterError) as e:
        approvals.approve(action.id, BOB, "yes")
    assert e.value.reason is Reason.STORAGE_UNAVAILABLE
    assert approvals.get(action.id).status == "failed"
    assert kinds(platform)[-2:] == ["approval.approved", "approval.failed"]
    assert not platform.registry.service_disabled("snowmelt")
