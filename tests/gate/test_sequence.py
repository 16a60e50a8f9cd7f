"""Sequence numbers: only an admitted or quarantined envelope uses one up;
a re-enrolment on the record starts the device over. On both stores."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from charter.api.app import create_app
from charter.auth import Role
from charter.bootstrap import Platform
from charter.device import DeviceSigner, SimReading
from charter.domain.errors import Conflict
from charter.transport.redelivery import deliver
from tests.api.support import bearer
from tests.conftest import OPERATOR, SampleCity, air_reading

TOP = 2**62  # the largest sequence number an envelope may carry


def _unclassified(t: object) -> list[SimReading]:
    # A category no project declares: it may be personal, so it is never kept.
    return [SimReading("unknown.thing", t, {"x": 1})]  # type: ignore[arg-type]


def test_a_refused_future_envelope_does_not_use_up_its_sequence_number(
    any_platform: Platform,
) -> None:
    city = SampleCity(any_platform)
    later = any_platform.clock.now() + timedelta(hours=1)
    future = city.envelope(city.air, _unclassified(later), seq=TOP, sent_at=later)
    [out] = any_platform.gate.ingest([future])
    assert out.rejection is not None and out.rejection.reason.value == "FUTURE_TIMESTAMP"
    assert out.dropped == 1 and out.quarantined == 0
    assert any_platform.store.device_seq(city.air.device_id) == -1
    [honest] = any_platform.gate.ingest([city.envelope(city.air, seq=1)])
    assert honest.admitted == 1, honest.to_json()


def test_a_refused_stale_envelope_does_not_use_up_its_sequence_number(
    any_platform: Platform,
) -> None:
    city = SampleCity(any_platform)
    old = any_platform.clock.now() - timedelta(hours=1)
    stale = city.envelope(city.air, _unclassified(old), seq=9, sent_at=old)
    [out] = any_platform.gate.ingest([stale])
    assert out.rejection is not None and out.rejection.reason.value == "STALE_TIMESTAMP"
    [honest] = any_platform.gate.ingest([city.envelope(city.air, seq=3)])
    assert honest.admitted == 1, honest.to_json()
    assert any_platform.store.device_seq(city.air.device_id) == 3


def test_an_envelope_refused_after_authentication_keeps_its_number_free(
    any_platform: Platform,
) -> None:
    city = SampleCity(any_platform)
    now = any_platform.clock.now()
    [out] = any_platform.gate.ingest([city.envelope(city.air, _unclassified(now), seq=4)])
    assert out.admitted == 0 and out.dropped == 1
    assert any_platform.store.device_seq(city.air.device_id) == -1
    # The device sends what it meant with the same number: taken.
    [again] = any_platform.gate.ingest([city.envelope(city.air, seq=4)])
    assert again.admitted == 1, again.to_json()


def test_an_out_of_range_sequence_number_is_refused_on_every_path(
    any_platform: Platform,
) -> None:
    city = SampleCity(any_platform)
    now = any_platform.clock.now()
    # Above the envelope's bound, and above what a 64-bit column holds: refused by
    # the gate, never a failing query in the redelivery look-ups (a poison message).
    for seq in (TOP + 1, 2**64):
        body = city.air.envelope(seq, now, [air_reading(now)])
        for redelivered in (False, True):
            [out] = deliver(any_platform.gate, [body], [redelivered]).outcomes
            assert out.rejection is not None and out.rejection.reason.value == "INVALID_ENVELOPE"
    assert any_platform.store.device_seq(city.air.device_id) == -1


def _locked_out(platform: Platform, city: SampleCity) -> None:
    """The device's own envelope at the top of the range is kept: nothing can follow it."""
    [top] = platform.gate.ingest([city.envelope(city.air, seq=TOP)])
    assert top.admitted == 1
    [after] = platform.gate.ingest([city.envelope(city.air, seq=1)])
    assert after.rejection is not None and after.rejection.reason.value == "REPLAYED_SEQUENCE"


def test_a_reenrolment_starts_the_device_over_on_the_record(any_platform: Platform) -> None:
    city = SampleCity(any_platform)
    _locked_out(any_platform, city)
    old_key = city.air
    new_key = DeviceSigner(city.air.device_id)
    any_platform.registry.reenrol_device(
        city.air.device_id, new_key.public_key_b64, OPERATOR, "counter lost after a repair"
    )
    assert any_platform.store.device_seq(city.air.device_id) == -1
    now = any_platform.clock.now()
    [fresh] = any_platform.gate.ingest([new_key.envelope(0, now, [air_reading(now)])])
    assert fresh.admitted == 1, fresh.to_json()
    # Nothing signed by an earlier key counts under the new numbering.
    [stolen] = any_platform.gate.ingest([old_key.envelope(5, now, [air_reading(now)])])
    assert stolen.rejection is not None and stolen.rejection.reason.value == "KEY_EXPIRED"
    entry = list(any_platform.store.iter_ledger_entries())[-1]
    data = json.loads(entry.data)
    assert entry.kind == "device.reenrolled"
    assert data["subject"] == city.air.device_id and data["seq_was"] == TOP
    assert data["why"] == "counter lost after a repair"


def test_a_reenrolment_needs_a_key_never_used_by_the_device(platform: Platform) -> None:
    city = SampleCity(platform)
    with pytest.raises(Conflict):  # the enrolment key is not accepted again
        platform.registry.reenrol_device(
            city.air.device_id, city.air.public_key_b64, OPERATOR, "same key"
        )


def test_a_reenrolment_over_the_api_needs_an_operator(platform: Platform) -> None:
    city = SampleCity(platform)
    _locked_out(platform, city)
    new_key = DeviceSigner(city.air.device_id)
    body = {"public_key": new_key.public_key_b64, "why": "locked out"}
    path = f"/devices/{city.air.device_id}/reenrol"
    with TestClient(create_app(platform)) as client:
        assert client.post(path, json=body).status_code == 401
        r = client.post(path, json=body, headers=bearer(platform, Role.OPERATOR))
        assert r.status_code == 200, r.text
        assert r.json()["public_key"] == new_key.public_key_b64
        now = platform.clock.now()
        ok = client.post("/ingest", content=new_key.envelope(1, now, [air_reading(now)]))
        assert ok.status_code == 200 and ok.json()["admitted"] == 1


def test_a_reenrolment_from_the_cli(platform: Platform) -> None:
    city = SampleCity(platform)
    _locked_out(platform, city)
    data_dir = str(platform.settings.data_dir)
    new_key = DeviceSigner(city.air.device_id)
    platform.close()
    from charter.cli import app

    runner = CliRunner()
    args = ["device", "reenrol", city.air.device_id, "--public-key", new_key.public_key_b64]
    r = runner.invoke(app, [*args, "--why", "locked out", "--data-dir", data_dir])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["seq"] == -1
    again = runner.invoke(app, [*args, "--why", "twice", "--data-dir", data_dir])
    assert again.exit_code == 1 and "CONFLICT" in again.output
