"""The security routes: device keys, firmware with its SBOM, the policy check."""

from __future__ import annotations

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charter.auth import Role
from charter.bootstrap import Platform
from charter.device import DeviceSigner
from charter.domain.trust import KnownBad, TrustPolicy
from tests.api.support import assert_problem, bearer
from tests.conftest import COUNCIL, SampleCity

BAD_SBOM = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.5",
    "components": [{"name": "log4j-core", "version": "2.14.1", "purl": "pkg:maven/x@2.14.1"}],
}


def test_keys_are_rotated_and_revoked_over_http(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    op = bearer(platform, Role.OPERATOR)
    device = city.air.device_id
    [enrolment] = client.get(f"/devices/{device}/keys").json()
    assert enrolment["public_key"] == city.air.public_key_b64
    new = DeviceSigner(device)
    r = client.post(
        f"/devices/{device}/keys",
        json={"public_key": new.public_key_b64, "overlap_s": 0, "why": "yearly"},
        headers=op,
    )
    assert r.status_code == 200, r.text
    assert_problem(client.post("/ingest", content=city.envelope(city.air)), 401, "KEY_EXPIRED")
    assert client.post("/ingest", content=city.envelope(new)).status_code == 200
    key_id = r.json()["key_id"]
    r = client.post(f"/devices/{device}/keys/{key_id}/revoke", json={"why": "stolen"}, headers=op)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert_problem(client.post("/ingest", content=city.envelope(new)), 401, "KEY_REVOKED")
    r = client.post(
        f"/devices/{device}/keys",
        json={"public_key": new.public_key_b64, "why": "again"},
        headers=bearer(platform, Role.AUDITOR),
    )
    assert_problem(r, 403, "FORBIDDEN")


def test_firmware_with_a_known_bad_component_is_refused_at_once(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    rules = TrustPolicy(known_bad=(KnownBad(purl="pkg:maven/x@2.14.1", why="Log4Shell"),))
    platform.security.trust.set_policy(rules, COUNCIL, "advisory")
    op = bearer(platform, Role.OPERATOR)
    device = city.air.device_id
    r = client.post(
        f"/devices/{device}/firmware",
        json={"version": "3.1", "sbom": BAD_SBOM, "why": "OTA update"},
        headers=op,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "suspended"
    assert "Log4Shell" in r.json()["trust_reasons"][0]
    assert_problem(client.post("/ingest", content=city.envelope(city.air)), 403, "VENDOR_UNTRUSTED")
    r = client.post(
        f"/devices/{device}/firmware",
        json={"version": "3.2", "sbom": {"bomFormat": "SPDX"}, "why": "x"},
        headers=op,
    )
    assert_problem(r, 422, "VALIDATION_FAILED")


def test_policy_apply_is_the_councils(client: TestClient, platform: Platform) -> None:
    r = client.post("/policy/apply", json={"why": "x"}, headers=bearer(platform, Role.OPERATOR))
    assert_problem(r, 403, "FORBIDDEN")
    r = client.post("/policy/apply", json={"why": "x"}, headers=bearer(platform, Role.COUNCIL))
    assert r.status_code == 200 and r.json()["policy"]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.one_of(
        st.binary(max_size=512),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner),
            max_leaves=20,
        ).map(lambda v: repr(v).encode()),
    )
)
def test_the_decoder_never_crashes_and_admits_nothing_unsigned(
    platform: Platform, body: bytes
) -> None:
    [out] = platform.gate.ingest([body])
    assert out.rejection is not None and out.admitted == 0
