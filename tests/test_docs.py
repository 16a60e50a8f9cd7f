"""Documentation that cannot drift: every reason code, setting, command and route is documented."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from charter.api.app import create_app
from charter.bootstrap import Platform
from charter.cli import app as cli_app
from charter.domain.reasons import SENTENCES, Reason
from charter.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = (ROOT / "docs" / "reference.md").read_text()


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_code_is_documented_with_a_sentence(reason: Reason) -> None:
    assert f"`{reason.value}`" in REFERENCE
    assert SENTENCES[reason] in REFERENCE


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    assert f"`CHARTER_{name.upper()}`" in REFERENCE


def _commands(group: typer.Typer, prefix: str = "charter") -> list[str]:
    click_group = typer.main.get_command(group)
    out: list[str] = []

    def walk(cmd: object, path: str) -> None:
        sub = getattr(cmd, "commands", None)
        if sub:
            for name, child in sub.items():
                walk(child, f"{path} {name}")
        else:
            out.append(path)

    walk(click_group, prefix)
    return out


@pytest.mark.parametrize("command", _commands(cli_app))
def test_every_command_is_documented(command: str) -> None:
    assert f"`{command}`" in REFERENCE


def test_every_route_is_documented(platform: Platform) -> None:
    paths = create_app(platform).openapi()["paths"]
    missing = [p for p in paths if f"`{p}`" not in REFERENCE]
    assert not missing, f"routes missing from docs/reference.md: {missing}"


def test_readme_has_the_two_quick_start_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "charter demo" in readme
    assert ".venv/bin/pytest" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/pytest" in ci


def test_every_image_a_document_shows_is_there_and_is_a_plot_of_a_report() -> None:
    import re

    from charter.report.plots import svgs

    shown = []
    for doc in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", doc.read_text()):
            path = (doc.parent / target).resolve()
            assert path.is_file(), f"{doc.name} shows {target}, which is missing"
            shown.append(path)
    for path in shown:
        if path.suffix == ".svg":  # saved from a report page by charter.report.plots
            assert len(svgs(path.read_text())) == 1, path
