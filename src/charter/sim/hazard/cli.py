"""`charter sim hazard`: replay the flood records through the early-warning service."""

from __future__ import annotations

from typing import Annotated

import typer

from charter.sim.sumo.cli import _show


def sim_hazard(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON line last")] = False,
) -> None:
    """Quiet and event records through the gate: false and missed alerts, alert p99."""
    from charter.sim.hazard.scenario import run_hazard

    _show("flood early warning", run_hazard(), as_json)
