"""`charter sim hazard`: replay the flood records through the early-warning service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from charter.sim.sumo.cli import _show


def sim_hazard(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON line last")] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a self-contained HTML report")
    ] = None,
) -> None:
    """Quiet and event records through the gate: false and missed alerts, alert p99."""
    from charter.sim.hazard.scenario import run_hazard

    runs: dict[str, Any] = {}
    figures = run_hazard(runs)
    if report is not None:
        from charter.sim.hazard.report import render

        report.write_text(render(figures, runs), encoding="utf-8")
    _show("flood and strong-shaking early warning", figures, as_json)
