"""Save the plots of a `--report` page as SVG files, for the docs.

Every report (`charter sim … --report out.html`) is one self-contained page whose
plots are inline SVG. `python -m charter.report.plots out.html docs/plots/NAME`
writes them as NAME-1.svg, NAME-2.svg, … so docs/services.md shows the same
plots as the measured run it quotes.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)


def svgs(page: str) -> list[str]:
    """The inline SVG documents of a report page, in order."""
    return _SVG.findall(page)


def save(report: Path, prefix: Path) -> list[Path]:
    prefix.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for i, svg in enumerate(svgs(report.read_text(encoding="utf-8")), start=1):
        path = prefix.with_name(f"{prefix.name}-{i}.svg")
        header = '<?xml version="1.0" encoding="utf-8" standalone="no"?>\n'
        if 'xmlns="http://www.w3.org/2000/svg"' not in svg[:400]:
            svg = svg.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg"', 1)
        path.write_text(header + svg + "\n", encoding="utf-8")
        out.append(path)
    return out


if __name__ == "__main__":  # pragma: no cover - a docs tool
    if len(sys.argv) != 3:
        sys.exit("usage: python -m charter.report.plots REPORT.html PREFIX")
    for written in save(Path(sys.argv[1]), Path(sys.argv[2])):
        print(written)
