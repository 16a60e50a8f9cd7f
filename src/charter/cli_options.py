"""The options every `charter` command group shares, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory [default: ./charter-data]")
]
StoreUrl = Annotated[
    str | None,
    typer.Option("--store", help="Database URL (postgresql://…) [default: SQLite in data dir]"),
]
BusUrl = Annotated[
    str | None, typer.Option("--bus", help="Bus URL (nats://…) [default: in-process]")
]
