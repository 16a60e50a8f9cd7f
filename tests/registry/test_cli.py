"""The register's CLI commands answer a refusal with its reason and exit status 1."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from charter.bootstrap import build
from charter.cli import app
from charter.domain.model import Actor
from charter.settings import Settings
from charter.sim import city as sample


def test_a_report_on_a_project_not_on_the_register_is_a_clear_refusal(tmp_path: Path) -> None:
    data = str(tmp_path / "d")
    r = CliRunner().invoke(
        app,
        [
            "report",
            "transparency",
            "--project",
            "urn:ngsi-ld:Project:nope",
            "--data-dir",
            data,
            "--out",
            str(tmp_path / "r.html"),
        ],
    )
    assert r.exit_code == 1, r.output
    assert "NOT_FOUND" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "r.html").exists()


def test_the_demo_on_a_half_seeded_register_is_a_clear_refusal(tmp_path: Path) -> None:
    p = build(Settings(data_dir=tmp_path / "d"))
    try:
        p.registry.register_vendor(sample.vendors()[0], Actor(name="x", role="operator"))
    finally:
        p.close()
    r = CliRunner().invoke(app, ["demo", "--data-dir", str(tmp_path / "d"), "--duration", "0"])
    assert r.exit_code == 1, r.output
    assert "CONFLICT" in r.output and "already registered" in r.output
