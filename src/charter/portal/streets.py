"""The city's street network, shipped as a small extract: the map draws it, the demo city's
devices stand on it.

The extract (`data/streets.json`) is derived from SUMO's `game/DRT` network (Berlin-
Adlershof), itself built from OpenStreetMap data (© OpenStreetMap contributors, ODbL:
see `data/STREETS.md`). It lets installs without SUMO draw the same city the traffic
services simulate. Regenerate it (needs the `sim` extra) with

    python -m charter.portal.streets [--net path/to/osm.net.xml]

Each street is `[class, [[lon, lat], ...]]`, simplified (about 2 m) and rounded to
1e-5 degrees (about 1 m); one street per pair of junctions (both directions are one line).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "streets.json"
ATTRIBUTION = "© OpenStreetMap contributors (ODbL), via SUMO's game/DRT network"
CLASSES = {
    "major": ("primary", "secondary", "tertiary", "trunk", "motorway"),
    "minor": ("residential", "unclassified", "living_street", "service", "track"),
    "path": ("footway", "path", "steps", "pedestrian", "cycleway"),
    "rail": ("railway",),
}
SIMPLIFY_M = 2.0
DIGITS = 5


def street_class(edge_type: str) -> str | None:
    first = edge_type.split("|")[0]
    if first.startswith("railway."):
        return "rail"
    kind = first.removeprefix("highway.")
    for name, kinds in CLASSES.items():
        if kind in kinds:
            return name
    return None


def extract(net_path: Path) -> dict[str, Any]:
    """The street extract of a SUMO network with a geo-projection (sumolib, shapely)."""
    import sumolib
    from shapely.geometry import LineString

    net = sumolib.net.readNet(str(net_path))
    seen: set[tuple[str, str]] = set()
    streets: list[list[Any]] = []
    for edge in sorted(net.getEdges(), key=lambda e: e.getID()):
        if edge.getFunction():  # internal, connector, crossing, walking area
            continue
        cls = street_class(edge.getType())
        if cls is None:
            continue
        ends = tuple(sorted((edge.getFromNode().getID(), edge.getToNode().getID())))
        key = (ends[0], ends[1] + "|" + cls)
        if key in seen:
            continue
        seen.add(key)
        line = LineString(edge.getShape()).simplify(SIMPLIFY_M, preserve_topology=False)
        points = []
        for x, y in line.coords:
            lon, lat = net.convertXY2LonLat(x, y)
            points.append([round(lon, DIGITS), round(lat, DIGITS)])
        if len(points) >= 2:
            streets.append([cls, points])
    # The city's extent is its streets' (long rail lines run out of town: the map clips them).
    lons = [p[0] for cls, pts in streets if cls != "rail" for p in pts]
    lats = [p[1] for cls, pts in streets if cls != "rail" for p in pts]
    return {
        "source": "SUMO tools/game/DRT/osm.net.xml (Berlin-Adlershof)",
        "attribution": ATTRIBUTION,
        "licence": "ODbL-1.0",
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "streets": streets,
    }


@dataclass(frozen=True)
class Streets:
    bbox: tuple[float, float, float, float]  # lon0, lat0, lon1, lat1
    streets: tuple[tuple[str, tuple[tuple[float, float], ...]], ...]
    attribution: str

    def area_ring(self) -> list[tuple[float, float]]:
        """The extract's bounding box as a closed ring, counter-clockwise (RFC 7946)."""
        lon0, lat0, lon1, lat1 = self.bbox
        return [(lon0, lat0), (lon1, lat0), (lon1, lat1), (lon0, lat1), (lon0, lat0)]

    def points_along(
        self, n: int, classes: tuple[str, ...] = ("major", "minor")
    ) -> list[tuple[float, float]]:
        """`n` places (lon, lat) spread evenly along the streets of `classes`, the same every
        time: where the demo city's sensors stand."""
        lines = [pts for cls, pts in self.streets if cls in classes]
        segments: list[tuple[tuple[float, float], tuple[float, float], float]] = []
        for pts in lines:
            for a, b in itertools.pairwise(pts):
                segments.append((a, b, _metres(a, b)))
        total = sum(length for _, _, length in segments)
        if n <= 0 or total <= 0:
            return []
        out: list[tuple[float, float]] = []
        # A stride that is not a multiple of a segment: neighbours in the list are apart.
        step = total / n
        target, walked, i = step / 2, 0.0, 0
        for a, b, length in segments:
            while i < n and target <= walked + length:
                t = (target - walked) / length if length else 0.0
                out.append(
                    (
                        round(a[0] + (b[0] - a[0]) * t, 6),
                        round(a[1] + (b[1] - a[1]) * t, 6),
                    )
                )
                i += 1
                target += step
            walked += length
        while len(out) < n:  # rounding at the very end
            out.append(out[-1])
        # Spread the order, so that any first k devices cover the whole city.
        stride = _coprime_stride(n)
        return [out[(k * stride) % n] for k in range(n)]


def _coprime_stride(n: int) -> int:
    stride = max(1, int(n * 0.618))
    while math.gcd(stride, n) != 1:
        stride += 1
    return stride


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat = math.radians((a[1] + b[1]) / 2)
    dx = (b[0] - a[0]) * 111_320 * math.cos(lat)
    dy = (b[1] - a[1]) * 110_540
    return math.hypot(dx, dy)


@cache
def load(path: Path = DATA) -> Streets:
    raw = json.loads(path.read_text())
    return Streets(
        bbox=(raw["bbox"][0], raw["bbox"][1], raw["bbox"][2], raw["bbox"][3]),
        streets=tuple((cls, tuple((p[0], p[1]) for p in pts)) for cls, pts in raw["streets"]),
        attribution=raw["attribution"],
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Regenerate the portal's street extract.")
    parser.add_argument("--net", type=Path, help="a SUMO .net.xml [default: game/DRT]")
    parser.add_argument("--out", type=Path, default=DATA)
    args = parser.parse_args(argv)
    net = args.net
    if net is None:
        from charter.sim.sumo.network import default_net

        net = default_net()
    data = extract(net)
    args.out.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"{len(data['streets'])} streets, {args.out.stat().st_size} bytes -> {args.out}")


if __name__ == "__main__":
    main()
