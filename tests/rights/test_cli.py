"""`charter resident|consent|grant|retention` over a data directory, as staff run them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.auth import authenticate
from charter.bootstrap import build
from charter.cli import app
from charter.device import DeviceSigner
from charter.domain.model import Device, Location, urn
from charter.portal import streets
from charter.settings import Settings
from charter.sim import city as sample
from tests.conftest import OPERATOR
from tests.rights.support import CROSSING, PURPOSE, crossing

FOB = "FOB-cli-51a2-resident"


def _ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_a_resident_is_enrolled_opts_in_is_read_exports_and_is_erased_from_the_cli(
    tmp_path: Path,
) -> None:
    data = str(tmp_path / "d")
    platform = build(Settings(data_dir=Path(data)))
    sample.seed(platform.registry, 20)
    platform.close()
    runner = CliRunner()
    made = json.loads(_ok(runner, "resident", "create", "--data-dir", data))
    rid, token = made["id"], made["token"]
    # Without proof the link is refused; the service desk that saw the fob links it.
    refused = runner.invoke(app, ["resident", "link", rid, "--identifier", FOB, "--data-dir", data])
    assert refused.exit_code == 1 and "NO_PROOF_OF_POSSESSION" in refused.output
    assert "linked a fob" in _ok(
        runner,
        "resident",
        "link",
        rid,
        "--identifier",
        FOB,
        "--verified",
        "fob shown at the desk",
        "--data-dir",
        data,
    )
    given = json.loads(
        _ok(
            runner,
            "consent",
            "grant",
            rid,
            "--category",
            CROSSING,
            "--purpose",
            PURPOSE,
            "--project",
            sample.TRAFFIC,
            "--days",
            "30",
            "--data-dir",
            data,
        )
    )
    assert given["receipt"].count(".") == 2
    refused = runner.invoke(
        app,
        [
            "consent",
            "grant",
            rid,
            "--category",
            "x.y",
            "--purpose",
            PURPOSE,
            "--project",
            sample.TRAFFIC,
            "--data-dir",
            data,
        ],
    )
    assert refused.exit_code == 1 and "UNDECLARED_CATEGORY" in refused.output

    platform = build(Settings(data_dir=Path(data)))
    # On the demo city's streets, inside the area its projects were consulted on.
    [(lon, lat)] = streets.load().points_along(1)
    signer = DeviceSigner(urn("Device", "cli-crossing"))
    platform.registry.register_device(
        Device(
            id=signer.device_id,
            vendor_id=sample.TRUSTED,
            project_id=sample.TRAFFIC,
            modality="crossing",
            location=Location(lat=lat, lon=lon),
            categories=[CROSSING],
            public_key=signer.public_key_b64,
        ),
        OPERATOR,
    )
    now = platform.clock.now()
    [out] = platform.gate.ingest([signer.envelope(1, now, [crossing(now, FOB)])])
    assert out.admitted == 1
    platform.close()

    req = _ok(
        runner,
        "grant",
        "request",
        "--consumer",
        "urn:ngsi-ld:Consumer:app",
        "--dataset",
        sample.TRAFFIC,
        "--category",
        CROSSING,
        "--purpose",
        PURPOSE,
        "--why",
        "study",
        "--data-dir",
        data,
    ).strip()
    grant = _ok(runner, "grant", "approve", req, "--why", "ok", "--data-dir", data).strip()
    assert grant.count(".") == 2
    assert "granted" in _ok(runner, "grant", "list", "--data-dir", data)

    export = json.loads(_ok(runner, "resident", "export", rid, "--data-dir", data))
    assert [r["values"] for r in export["readings"]] == [{"extra_seconds": 10}]
    assert PURPOSE in _ok(runner, "consent", "list", rid, "--data-dir", data)
    assert runner.invoke(app, ["resident", "erase", rid, "--data-dir", data]).exit_code == 1
    erased = json.loads(_ok(runner, "resident", "erase", rid, "--yes", "--data-dir", data))
    assert erased["key_destroyed"] is True
    again = runner.invoke(app, ["resident", "erase", rid, "--yes", "--data-dir", data])
    assert again.exit_code == 1 and "ALREADY_ERASED" in again.output
    run = json.loads(_ok(runner, "retention", "run", "--data-dir", data))
    assert run["removed"] == 0
    platform = build(Settings(data_dir=Path(data)))
    assert authenticate(platform.store, token) is None
    platform.close()


def test_a_fob_is_linked_from_the_cli_with_its_answer_to_a_challenge(tmp_path: Path) -> None:
    from charter.device import FobKey

    data = str(tmp_path / "d")
    runner = CliRunner()
    rid = json.loads(_ok(runner, "resident", "create", "--data-dir", data))["id"]
    fob = FobKey()
    challenge = _ok(runner, "resident", "challenge", rid, "--data-dir", data).strip()
    link = ["resident", "link", rid, "--identifier", fob.identifier, "--data-dir", data]
    proof = ["--public-key", fob.public_key_b64, "--challenge", challenge]
    wrong = runner.invoke(app, [*link, *proof, "--signature", FobKey().answer(challenge)])
    assert wrong.exit_code == 1 and "NO_PROOF_OF_POSSESSION" in wrong.output
    assert "proof key" in _ok(runner, *link, *proof, "--signature", fob.answer(challenge))


def test_tokens_from_the_cli_carry_the_configured_audience_and_issuer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`resident create` and `token create` issue what the configured tenant accepts."""
    monkeypatch.setenv("CHARTER_AUTH_AUDIENCE", "tenant-b")
    monkeypatch.setenv("CHARTER_AUTH_ISSUER", "https://b.example.city/auth")
    data = str(tmp_path / "d")
    runner = CliRunner()
    made = json.loads(_ok(runner, "resident", "create", "--data-dir", data))
    staff = _ok(
        runner, "token", "create", "--role", "auditor", "--name", "ann", "--data-dir", data
    ).strip()
    platform = build(Settings.load(data_dir=Path(data)))
    try:
        resident = platform.security.tokens.verify(made["token"]).actor
        assert (resident.role, resident.subject) == ("resident", made["id"])
        assert platform.security.tokens.verify(staff).actor.role == "auditor"
    finally:
        platform.close()
