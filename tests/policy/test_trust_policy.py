"""The trust policy as code: rules from a file, SBOMs, re-judging, suspension on the ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.bootstrap import Platform
from charter.cli import app
from charter.device import SimReading
from charter.domain.model import DataGovernance, DeviceStatus, Firmware, Vendor
from charter.domain.reasons import Reason
from charter.domain.sbom import SbomError, parse_cyclonedx
from charter.domain.trust import KnownBad, TrustPolicy
from charter.policy.loader import PolicyFileError, load_policy
from charter.sim import city as sample
from tests.conftest import OPERATOR, SampleCity

SBOM = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.5",
    "components": [
        {"name": "busybox", "version": "1.36.1", "purl": "pkg:generic/busybox@1.36.1"},
        {
            "name": "openssl",
            "version": "1.0.1f",
            "purl": "pkg:generic/openssl@1.0.1f",
            "components": [{"name": "zlib", "version": "1.2.13"}],
        },
    ],
}

POLICY_TOML = """
allowed_jurisdictions = ["NL", "BE", "DE"]
required_certifications = ["ISO/IEC 27001", "IEC 62443-4-2"]
require_attestation = true
allowed_data_flows = ["NL"]
forbid_state_compulsion = true

[[known_bad]]
name = "openssl"
versions = ["1.0.1f"]
why = "Heartbleed"
"""


def test_cyclonedx_components_are_read_with_nested_ones() -> None:
    parts = parse_cyclonedx(SBOM)
    assert [(c.name, c.version) for c in parts] == [
        ("busybox", "1.36.1"),
        ("openssl", "1.0.1f"),
        ("zlib", "1.2.13"),
    ]


@pytest.mark.parametrize(
    "doc",
    [{"bomFormat": "SPDX"}, [], {"bomFormat": "CycloneDX", "components": [{"version": "1"}]}],
)
def test_a_document_that_is_not_cyclonedx_is_refused(doc: object) -> None:
    with pytest.raises(SbomError):
        parse_cyclonedx(doc)


def test_the_policy_is_read_from_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "policy.toml"
    toml.write_text(POLICY_TOML)
    policy = load_policy(toml)
    assert policy.allowed_jurisdictions == {"NL", "BE", "DE"}
    assert policy.known_bad[0].why == "Heartbleed"
    js = tmp_path / "policy.json"
    js.write_text(json.dumps({"trust": {"denied_jurisdictions": ["XX"]}}))
    assert load_policy(js).denied_jurisdictions == {"XX"}
    bad = tmp_path / "bad.toml"
    bad.write_text("no_such_rule = true\n")
    with pytest.raises(PolicyFileError):
        load_policy(bad)


def test_every_rule_gives_its_own_reason(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text(POLICY_TOML)
    policy = load_policy(tmp_path / "p.toml")
    vendor = Vendor(
        id="urn:ngsi-ld:Vendor:v",
        name="V",
        jurisdiction="CN",
        certifications=["ISO/IEC 27001"],
        attestation=DataGovernance(data_flows=["NL", "CN"], state_compellable=True),
    )
    _status, reasons = policy.evaluate(vendor)
    assert reasons == [
        "missing certification IEC 62443-4-2",
        "jurisdiction CN is not on the city's allow-list",
        "vendor keeps remote access to raw data",
        "data may flow to CN, outside the allowed places",
        "vendor can be compelled to hand data to a state security organ",
    ]
    assert TrustPolicy(require_attestation=True).evaluate(
        vendor.model_copy(update={"attestation": None, "certifications": ["ISO/IEC 27001"]})
    )[1] == ["no data-governance attestation"]


def test_the_policy_fingerprint_is_stable() -> None:
    a = TrustPolicy(denied_jurisdictions=frozenset({"XX", "YY", "ZZ"}))
    b = TrustPolicy(denied_jurisdictions=frozenset({"ZZ", "YY", "XX"}))
    assert a.fingerprint() == b.fingerprint() != TrustPolicy().fingerprint()


def _ledger_kinds(platform: Platform) -> list[tuple[str, dict[str, object]]]:
    entries = platform.store.ledger_entries(0, platform.ledger.size)
    return [(e.kind, json.loads(e.data)) for e in entries]


def test_a_firmware_update_with_a_known_bad_component_suspends_the_device_at_once(
    platform: Platform, city: SampleCity
) -> None:
    trust = platform.security.trust
    trust.set_policy(
        TrustPolicy(known_bad=(KnownBad(name="openssl", versions=frozenset({"1.0.1f"})),)),
        OPERATOR,
        "Heartbleed advisory",
    )
    [ok] = platform.gate.ingest([city.envelope(city.air)])
    assert ok.admitted == 1
    status = trust.update_firmware(
        city.air.device_id,
        Firmware(version="2.0", components=parse_cyclonedx(SBOM)),
        OPERATOR,
        "ota",
    )
    assert status == "suspended"
    [out] = platform.gate.ingest([city.envelope(city.air)])
    assert out.rejection is not None and out.rejection.reason is Reason.VENDOR_UNTRUSTED
    kind, data = _ledger_kinds(platform)[-1]
    assert kind == "device.status"
    assert data["reason"] == "VENDOR_UNTRUSTED"
    assert "known-bad component openssl 1.0.1f" in json.dumps(data["trust_reasons"])
    # The other devices of the same vendor carry on.
    [other] = platform.gate.ingest([city.envelope(city.traffic, [_traffic(city)])])
    assert other.rejection is None


def _traffic(city: SampleCity) -> SimReading:
    now = city.platform.clock.now()
    return SimReading("traffic.count", now, {"vehicles": 3}, {"vehicles": "count"})


def test_a_policy_change_suspends_every_failing_device_and_is_on_the_ledger(
    platform: Platform, city: SampleCity
) -> None:
    out = platform.security.trust.set_policy(
        TrustPolicy(denied_jurisdictions=frozenset({"NL"})), OPERATOR, "new council rule"
    )
    assert sample.TRUSTED in out.vendors_changed
    assert set(out.devices_suspended) >= {city.air.device_id, city.traffic.device_id}
    kinds = [k for k, _ in _ledger_kinds(platform)]
    assert "policy.changed" in kinds and "vendor.trust" in kinds
    for signer in (city.air, city.traffic):
        device = platform.store.get_device(signer.device_id)
        assert device is not None and device.status is DeviceStatus.SUSPENDED
        [r] = platform.gate.ingest([city.envelope(signer)])
        assert r.rejection is not None and r.rejection.reason is Reason.VENDOR_UNTRUSTED


def test_a_vendor_update_that_fails_suspends_its_fleet_in_the_same_transaction(
    platform: Platform, city: SampleCity
) -> None:
    vendor = platform.store.get_vendor(sample.TRUSTED)
    assert vendor is not None
    platform.registry.update_vendor(
        vendor.model_copy(update={"certifications": []}), OPERATOR, "certificate expired"
    )
    device = platform.store.get_device(city.air.device_id)
    assert device is not None and device.status is DeviceStatus.SUSPENDED
    assert device.trust_reasons == ["vendor: missing certification ISO/IEC 27001"]


def test_policy_check_explains_each_vendor_and_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from charter.bootstrap import build
    from charter.settings import Settings

    data = tmp_path / "d"
    p = build(Settings(data_dir=data))
    SampleCity(p)
    p.close()
    monkeypatch.setenv("COLUMNS", "300")
    result = CliRunner().invoke(app, ["policy", "check", "--data-dir", str(data), "--json"])
    assert result.exit_code == 0, result.output
    verdicts = json.loads(result.output.strip().splitlines()[-1])
    by_id = {v["id"]: v for v in verdicts}
    assert by_id[sample.TRUSTED]["passes"] is True
    shady = by_id[sample.UNTRUSTED]
    assert shady["passes"] is False
    assert "vendor keeps remote access to raw data" in shady["reasons"]
    device = by_id["urn:ngsi-ld:Device:shady"]
    assert device["passes"] is False
    assert "vendor: missing certification ISO/IEC 27001" in device["reasons"]
    assert "fails" in result.output and "meets every rule" in result.output
