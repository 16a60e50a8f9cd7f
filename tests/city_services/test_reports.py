"""`--report out.html`: one self-contained page, its plots inline, nothing fetched."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from charter.cli import app
from charter.sim.hazard import report, seismic
from charter.sim.hazard.scenario import event, quiet, replay


def _self_contained(html: str) -> None:
    assert html.startswith("<!doctype html>")
    assert html.count("<svg") >= 2
    assert not re.search(r"<script|<link|<img|@import|url\((?!#)", html, re.I)  # only own ids


def test_the_snowmelt_report_plots_both_controllers_over_the_blizzard(tmp_path: Path) -> None:
    out = tmp_path / "snow.html"
    result = CliRunner().invoke(
        app, ["sim", "snowmelt", "--excerpt", "--end", "2013-02-10", "--report", str(out)]
    )
    assert result.exit_code == 0, result.output
    html = out.read_text()
    _self_contained(html)
    assert "thermostat" in html and "Charter" in html and "hospital-entrance" in html


def test_the_hazard_report_shows_the_hydrograph_its_thresholds_and_alert_times() -> None:
    runs: dict[str, Any] = {
        "event": replay({0: list(event(hours=16)), 1: list(quiet(16, seed=9))}),
        "quiet": replay({0: list(quiet(4)), 1: list(quiet(4, seed=8))}),
    }
    if seismic.available():
        runs["seismic_quiet"] = seismic.replay_seismic(seismic.quiet())
        runs["seismic_event"] = seismic.replay_seismic(seismic.event())
    html = report.render({"false_alerts": 0}, runs)
    _self_contained(html)
    assert "warning alert, riverside" in html and "danger alert, riverside" in html
    assert "danger level" in html
