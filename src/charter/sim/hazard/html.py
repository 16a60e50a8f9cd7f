"""Self-contained HTML reports of the services' simulations: the figures and inline SVG
plots (matplotlib, rendered to SVG in the page: no CDN, no external file)."""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

from charter.report.page import inline_svg

STYLE = """
body{font-family:system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;
color:#1b1b1b;line-height:1.5}
table{border-collapse:collapse;margin:1rem 0}
th,td{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.plot svg{max-width:100%;height:auto}.muted{color:#666}
"""


def svg(draw: Callable[[Any], None], *, height: float = 4.0, rows: int = 1) -> str:
    """Run `draw(fig)` on a matplotlib figure and return the figure as an inline <svg>."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, height * rows))
    draw(fig)
    return inline_svg(fig)


def page(title: str, intro: str, figures: dict[str, Any], plots: list[tuple[str, str]]) -> str:
    rows = "".join(
        f"<tr><td>{escape(k)}</td><td class='n'>{escape(json.dumps(v))}</td></tr>"
        for k, v in figures.items()
    )
    body = "".join(f"<h2>{escape(h)}</h2><div class='plot'>{plot}</div>" for h, plot in plots)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1><p>{escape(intro)}</p>"
        f"<h2>Figures</h2><table><tbody>{rows}</tbody></table>{body}</body></html>"
    )


def write(path: Path, html: str) -> None:
    path.write_text(html, encoding="utf-8")
