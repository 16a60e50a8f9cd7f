"""`charter services`: the city services, their register entries and their state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from charter.bootstrap import build
from charter.cli_options import DataDir, StoreUrl
from charter.domain.algorithm import AlgorithmEntry
from charter.domain.errors import CharterError
from charter.domain.model import Actor
from charter.services.overview import overview
from charter.settings import Settings

services_app = typer.Typer(
    help="The city services and the algorithm register.", no_args_is_help=True
)
console = Console()
STAFF = Actor(name="cli", role="operator")


@services_app.command("list")
def services_list(
    data_dir: DataDir = None,
    store: StoreUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object")] = False,
) -> None:
    """Each service on the register: its project, its actuators and their state."""
    platform = build(Settings.load(data_dir=data_dir, database_url=store))
    try:
        rows = overview(platform.store, platform.algorithms)
    finally:
        platform.close()
    if as_json:
        typer.echo(json.dumps({"services": rows}, sort_keys=True))
        return
    table = Table(title="City services")
    for col in ("service", "project", "project status", "state", "actuators"):
        table.add_column(col)
    for r in rows:
        acts = ", ".join(f"{a} ({s})" for a, s in sorted(r["actuators"].items())) or "-"
        table.add_row(r["service"], r["project"], r["project_status"], r["state"], acts)
    console.print(table)


@services_app.command("register")
def services_register(
    entry_file: Annotated[Path, typer.Argument(help="The register entry, JSON")],
    why: Annotated[str, typer.Option("--why", help="Why, for the ledger")],
    data_dir: DataDir = None,
    store: StoreUrl = None,
) -> None:
    """Put a service on the public algorithm register (or update its entry)."""
    try:
        entry = AlgorithmEntry.model_validate_json(entry_file.read_bytes())
    except (OSError, ValidationError) as e:
        kind = "cannot be read" if isinstance(e, OSError) else "is not a valid register entry"
        console.print(f"[red]VALIDATION_FAILED[/red] the entry file {kind}")
        raise typer.Exit(1) from None
    platform = build(Settings.load(data_dir=data_dir, database_url=store))
    try:
        platform.algorithms.register(entry, STAFF, why)
    except CharterError as e:
        console.print(f"[red]{e.reason.value}[/red] {e.detail}")
        raise typer.Exit(1) from None
    finally:
        platform.close()
    console.print(f"{entry.service} is on the algorithm register for {entry.project_id}")


@services_app.command("flags")
def services_flags(
    data_dir: DataDir = None,
    store: StoreUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object")] = False,
) -> None:
    """Sensors a service flagged (stuck, out of range, jumping) and whether they were released."""
    platform = build(Settings.load(data_dir=data_dir, database_url=store))
    try:
        rows = [
            {"device": f.device_id, "service": f.service, "why": f.why,
             "flagged_at": f.flagged_at, "released_at": f.released_at}
            for f in platform.store.list_sensor_flags()
        ]  # fmt: skip
    finally:
        platform.close()
    if as_json:
        typer.echo(json.dumps({"flags": rows}, sort_keys=True))
        return
    table = Table(title="Flagged sensors")
    for col in ("device", "service", "why", "released"):
        table.add_column(col)
    for r in rows:
        released = "yes" if r["released_at"] else "no"
        table.add_row(str(r["device"]), str(r["service"]), str(r["why"]), released)
    console.print(table)


@services_app.command("release")
def services_release(
    device: Annotated[str, typer.Argument(help="The flagged sensor's device URN")],
    why: Annotated[str, typer.Option("--why", help="What the operator checked, for the ledger")],
    data_dir: DataDir = None,
    store: StoreUrl = None,
) -> None:
    """Release a flagged sensor after checking it: its readings count again (on the ledger)."""
    from charter.services.sensors import release_sensor

    platform = build(Settings.load(data_dir=data_dir, database_url=store))
    try:
        row = release_sensor(platform.store, platform.ledger, device, STAFF, why)
    finally:
        platform.close()
    console.print(f"{device} released ({row.service} flagged it: {row.why})")
