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

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory [default: ./charter-data]")
]
StoreUrl = Annotated[
    str | None,
    typer.Option("--store", help="Database URL (postgresql://…) [default: SQLite in data dir]"),
]


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
