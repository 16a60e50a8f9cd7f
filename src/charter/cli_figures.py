"""How `charter bench` and `charter sim` show their figures: a two-column table for people
and, with `--json`, the same figures as one JSON line, last (what scripts and the docs read)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table


def figures_table(title: str) -> Table:
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    return table


def show_figures(console: Console, table: Table, figures: dict[str, Any], as_json: bool) -> None:
    console.print(table)
    if as_json:
        print(json.dumps(figures))
