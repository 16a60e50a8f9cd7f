"""One truth across processes: a change by one process is refused by another's gate.

Two Platforms over one store, as a server and `charter policy apply` (or a
second worker) are: each has its own device directory, its own in-process bus
and its own copy of the trust policy. A change to the register made by one is
applied by the other's gate from its next batch (the register's version is in
the store and read once per batch), on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from charter.auth import Role, issue_token, revoke_token
from charter.bootstrap import Platform, build
from charter.device import DeviceSigner, SimReading
from charter.domain.clock import FixedClock
from charter.domain.errors import CharterError
from charter.domain.model import DeviceStatus, ProjectStatus
from charter.domain.reasons import Reason
from charter.domain.trust import TrustPolicy
from charter.settings import Settings
from charter.sim import city as sample
from tests.conftest import OPERATOR, SampleCity, air_reading
from tests.gate.test_consent import count
from tests.services import pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def two(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> Iterator[Pair]:
    """Two platforms (processes, as far as their state goes) over one store."""
    if request.param == "sqlite":
        settings = Settings(data_dir=tmp_path / "data")
        a, b = build(settings, clock=clock), build(settings, clock=clock)
        yield Pair(a, b)
        a.close()
        b.close()
        return
    with pg_database() as url:
        settings = Settings(data_dir=tmp_path / "data", database_url=url)
        a, b = build(settings, clock=clock), build(settings, clock=clock)
        yield Pair(a, b)
        a.close()
        b.close()


class Pair:
    def __init__(self, a: Platform, b: Platform) -> None:
        self.a, self.b = a, b  # a changes the register; b runs the gate
        self.city = SampleCity(a)
        # b's gate has judged the devices once, so its directory holds them.
        for signer in (self.city.air, self.city.traffic):
            [ok] = b.gate.ingest([self.city.envelope(signer, self._readings(signer))])
            assert ok.rejection is None and ok.admitted == 1

    def _readings(self, signer: DeviceSigner) -> list[SimReading]:
        now = self.a.clock.now()
        return [count(now)] if signer is self.city.traffic else [air_reading(now)]

    def refused_by_b(self, signer: DeviceSigner) -> Reason | None:
        [out] = self.b.gate.ingest([self.city.envelope(signer, self._readings(signer))])
        return out.rejection.reason if out.rejection else None


def test_a_device_suspended_by_one_process_is_refused_by_the_others_gate(two: Pair) -> None:
    two.a.registry.set_device_status(
        two.city.air.device_id, DeviceStatus.SUSPENDED, OPERATOR, "tampered"
    )
    assert two.refused_by_b(two.city.air) is Reason.DEVICE_SUSPENDED
    assert two.refused_by_b(two.city.traffic) is None  # the others carry on


def test_a_key_revoked_by_one_process_is_refused_by_the_others_gate(two: Pair) -> None:
    keys = two.a.security.device_keys
    [enrolment] = keys.keys(two.city.air.device_id)
    keys.revoke(two.city.air.device_id, enrolment.key_id, OPERATOR, "key leaked")
    assert two.refused_by_b(two.city.air) is Reason.KEY_REVOKED


def test_a_policy_applied_by_one_process_holds_in_the_other(two: Pair) -> None:
    failing = TrustPolicy(denied_jurisdictions=frozenset({"NL"}))  # the trusted vendor's
    out = two.a.security.trust.set_policy(failing, OPERATOR, "new council rule")
    assert two.city.air.device_id in out.devices_suspended
    assert two.refused_by_b(two.city.air) is Reason.VENDOR_UNTRUSTED
    # The other process judges by the adopted rules too, not its start-up copy.
    assert two.b.registry.policy == failing
    assert two.b.security.trust.check() == two.a.security.trust.check()
    late = two.city.device("late", sample.TRUSTED, sample.AIR, ["air.quality"])
    registered = two.b.store.get_device(late.device_id)
    assert registered is not None and registered.trust_reasons


def test_a_project_retired_by_one_process_is_refused_by_the_others_gate(two: Pair) -> None:
    two.a.registry.set_project_status(sample.AIR, ProjectStatus.RETIRED, OPERATOR, "ended")
    assert two.refused_by_b(two.city.air) is Reason.PROJECT_NOT_LIVE
    assert two.refused_by_b(two.city.traffic) is None


def test_a_token_revoked_by_one_process_is_refused_by_the_other(two: Pair) -> None:
    token = issue_token(two.a.store, two.a.clock, "auditor", Role.AUDITOR)
    assert two.b.security.tokens.verify(token).actor.name == "auditor"
    assert revoke_token(two.a.store, token)
    with pytest.raises(CharterError) as e:
        two.b.security.tokens.verify(token)
    assert e.value.reason is Reason.UNAUTHENTICATED


def test_the_gate_reads_the_version_once_per_batch(two: Pair) -> None:
    """The hot path stays cheap: an unchanged register costs one read, not a reload."""
    directory = two.b.directory
    view = directory.get(two.city.air.device_id)
    before = directory.version
    assert two.refused_by_b(two.city.air) is None
    assert directory.version == before
    assert directory.get(two.city.air.device_id) is view  # not reloaded


def test_charter_policy_apply_in_another_process_stops_the_running_gate(
    tmp_path: Path, clock: FixedClock
) -> None:
    """The issue as reported: the server keeps running while `charter policy apply`
    runs as a separate process with a policy the trusted vendor fails."""
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text('denied_jurisdictions = ["NL"]\n')
    server = build(Settings(data_dir=tmp_path / "data"), clock=clock)
    city = SampleCity(server)
    [ok] = server.gate.ingest([city.envelope(city.air)])
    assert ok.rejection is None
    env = {
        **os.environ,
        "CHARTER_DATA_DIR": str(tmp_path / "data"),
        "CHARTER_TRUST_POLICY_FILE": str(policy_file),
    }
    done = subprocess.run(
        [sys.executable, "-m", "charter.cli", "policy", "apply", "--why", "deny NL"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "devices suspended: 3" in done.stdout  # air, traffic, flood: the trusted vendor's
    [out] = server.gate.ingest([city.envelope(city.air)])
    assert out.rejection is not None and out.rejection.reason is Reason.VENDOR_UNTRUSTED
    assert server.registry.policy == TrustPolicy(denied_jurisdictions=frozenset({"NL"}))
    server.close()
