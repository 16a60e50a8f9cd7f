"""Exports: polygons follow RFC 7946's right-hand rule whichever way they were drawn;
CSV cells cannot become spreadsheet formulas."""

from __future__ import annotations

import csv
import io
import itertools

from hypothesis import given
from hypothesis import strategies as st

from charter.domain.disclosure import Area
from charter.registry.export import _polygon_geometry, to_csv


def signed_area(ring: list[list[float]]) -> float:
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in itertools.pairwise(ring)) / 2


coordinate = st.floats(min_value=-170, max_value=170, allow_nan=False, allow_infinity=False)


@given(coordinate, st.floats(min_value=-80, max_value=80), st.booleans())
def test_a_rectangle_is_exported_counter_clockwise(lon: float, lat: float, clockwise: bool) -> None:
    ring = [(lon, lat), (lon + 1, lat), (lon + 1, lat + 1), (lon, lat + 1), (lon, lat)]
    if clockwise:
        ring.reverse()
    geometry = _polygon_geometry(Area(coordinates=[ring]))
    [exterior] = geometry["coordinates"]
    assert signed_area(exterior) > 0
    assert exterior[0] == exterior[-1]
    assert {tuple(p) for p in exterior} == set(ring)  # same positions, lon first


def test_a_hole_runs_clockwise() -> None:
    outer = [(0.0, 0.0), (0.0, 4.0), (4.0, 4.0), (4.0, 0.0), (0.0, 0.0)]  # clockwise
    hole = [(1.0, 1.0), (2.0, 1.0), (2.0, 2.0), (1.0, 2.0), (1.0, 1.0)]  # counter-clockwise
    exterior, inner = _polygon_geometry(Area(coordinates=[outer, hole]))["coordinates"]
    assert signed_area(exterior) > 0 and signed_area(inner) < 0


def test_csv_text_cannot_become_a_formula_but_numbers_stay_numbers() -> None:
    text = to_csv(
        [{"name": '=HYPERLINK("http://evil")', "lon": -0.12, "list": ["@a", "b"], "ok": True}],
        ["name", "lon", "list", "ok"],
    )
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row == {
        "name": '\'=HYPERLINK("http://evil")',
        "lon": "-0.12",
        "list": "'@a; b",
        "ok": "yes",
    }
