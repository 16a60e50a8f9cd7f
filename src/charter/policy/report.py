"""`charter policy check`: for each vendor and device, whether it passes and why not."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from charter.policy.service import Verdict


def render(verdicts: list[Verdict], console: Console) -> None:
    table = Table(title="Trust policy check")
    table.add_column("kind")
    table.add_column("id")
    table.add_column("verdict")
    table.add_column("why")
    for v in verdicts:
        verdict = "[green]passes[/green]" if v.passes else "[red]fails[/red]"
        if v.kind == "device":
            verdict += f" ({v.status})"
        why = "; ".join(v.reasons) if v.reasons else "meets every rule"
        table.add_row(v.kind, v.id, verdict, why)
    console.print(table)
