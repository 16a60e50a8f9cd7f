"""NGSI-LD geo-queries (clause 4.10): each georel, metres, refused geometries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from charter.ngsild.geo import MAX_POSITIONS, haversine_m, parse_geometry, parse_geoquery
from charter.ngsild.query import QueryError

# Heidelberg: Bismarckplatz and a square around the old town.
BISMARCK = [8.6931, 49.4093]
SQUARE = [[[8.68, 49.40], [8.72, 49.40], [8.72, 49.42], [8.68, 49.42], [8.68, 49.40]]]


def entity(geometry: dict[str, Any], prop: str = "location") -> dict[str, Any]:
    return {"id": "urn:x:1", "type": "T", prop: {"type": "GeoProperty", "value": geometry}}


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def test_haversine_known_distance() -> None:
    # One degree of latitude is about 111.2 km.
    assert haversine_m(0, 0, 0, 1) == pytest.approx(111_195, rel=1e-3)
    # Paris to London, about 343.5 km.
    assert haversine_m(2.3522, 48.8566, -0.1276, 51.5072) == pytest.approx(343_500, rel=5e-3)


def test_near_max_and_min_distance_in_metres() -> None:
    # 0.001 degree of latitude north is about 111 m.
    close = entity(point(BISMARCK[0], BISMARCK[1] + 0.001))
    far = entity(point(BISMARCK[0], BISMARCK[1] + 0.01))
    within_200 = parse_geoquery("near;maxDistance==200", "Point", json.dumps(BISMARCK))
    assert within_200 is not None
    assert within_200.matches(close)
    assert not within_200.matches(far)
    beyond_200 = parse_geoquery("near;minDistance==200", "Point", BISMARCK)
    assert beyond_200 is not None
    assert not beyond_200.matches(close)
    assert beyond_200.matches(far)
    ring = parse_geoquery("near;minDistance==100;maxDistance==2000", "Point", BISMARCK)
    assert ring is not None and ring.matches(close) and ring.matches(far)


def test_near_a_line_measures_to_the_nearest_point() -> None:
    line = [[8.68, 49.40], [8.72, 49.40]]
    query = parse_geoquery("near;maxDistance==150", "LineString", line)
    assert query is not None
    assert query.matches(entity(point(8.70, 49.401)))  # ~111 m north of the line
    assert not query.matches(entity(point(8.70, 49.403)))  # ~333 m
    assert query.distance_m(parse_geometry("Point", [8.70, 49.401])) == pytest.approx(111, rel=0.02)


def test_within_contains_intersects_disjoint() -> None:
    inside = entity(point(8.70, 49.41))
    outside = entity(point(8.75, 49.41))
    within = parse_geoquery("within", "Polygon", json.dumps(SQUARE))
    assert within is not None and within.matches(inside) and not within.matches(outside)
    disjoint = parse_geoquery("disjoint", "Polygon", SQUARE)
    assert disjoint is not None and disjoint.matches(outside) and not disjoint.matches(inside)
    intersects = parse_geoquery("intersects", "Polygon", SQUARE)
    assert intersects is not None and intersects.matches(inside)
    crossing = entity({"type": "LineString", "coordinates": [[8.70, 49.39], [8.70, 49.43]]})
    assert intersects.matches(crossing) and not within.matches(crossing)
    district = entity({"type": "Polygon", "coordinates": SQUARE})
    contains = parse_geoquery("contains", "Point", [8.70, 49.41])
    assert contains is not None and contains.matches(district)
    assert not contains.matches(entity(point(8.71, 49.41)))


def test_equals_and_overlaps() -> None:
    equals = parse_geoquery("equals", "Point", BISMARCK)
    assert equals is not None
    assert equals.matches(entity(point(*BISMARCK)))
    assert not equals.matches(entity(point(8.0, 49.0)))
    shifted = [[[8.70, 49.41], [8.74, 49.41], [8.74, 49.43], [8.70, 49.43], [8.70, 49.41]]]
    overlaps = parse_geoquery("overlaps", "Polygon", SQUARE)
    assert overlaps is not None
    assert overlaps.matches(entity({"type": "Polygon", "coordinates": shifted}))
    assert not overlaps.matches(entity({"type": "Polygon", "coordinates": SQUARE}))


def test_multi_geometries_and_other_geoproperty() -> None:
    multi = [SQUARE, [[[9.0, 50.0], [9.1, 50.0], [9.1, 50.1], [9.0, 50.0]]]]
    query = parse_geoquery("within", "MultiPolygon", multi, "observationSpace")
    assert query is not None
    assert query.matches(entity(point(9.07, 50.03), "observationSpace"))
    assert not query.matches(entity(point(9.07, 50.03)))  # location is not the geoproperty
    points = parse_geoquery("intersects", "MultiPoint", [BISMARCK, [9, 50]])
    assert points is not None and points.matches(entity(point(9, 50)))
    lines = parse_geoquery(
        "intersects", "MultiLineString", [[[8.70, 49.39], [8.70, 49.43]], [[0, 0], [1, 1]]]
    )
    assert lines is not None and lines.matches(entity({"type": "Polygon", "coordinates": SQUARE}))


def test_entities_without_usable_geometry_do_not_match() -> None:
    query = parse_geoquery("intersects", "Polygon", SQUARE)
    assert query is not None
    assert not query.matches({"id": "urn:x:2", "type": "T"})
    assert not query.matches(entity({"type": "Point", "coordinates": "nonsense"}))
    assert not query.matches({"location": {"type": "Property", "value": 3}})
    # keyValues-style and string-encoded GeoJSON values are understood.
    assert query.matches({"location": {"type": "Point", "coordinates": [8.70, 49.41]}})
    assert query.matches(entity(json.dumps(point(8.70, 49.41))))  # type: ignore[arg-type]


def test_no_geoquery_and_bbox_prefilter() -> None:
    assert parse_geoquery(None, None, None) is None
    near = parse_geoquery("near;maxDistance==1000", "Point", BISMARCK)
    assert near is not None
    box = near.bbox()
    assert box is not None
    minx, miny, maxx, maxy = box
    assert minx < BISMARCK[0] < maxx and miny < BISMARCK[1] < maxy
    assert (maxy - miny) == pytest.approx(2 * 1000 / 111_195, rel=0.01)
    disjoint = parse_geoquery("disjoint", "Point", BISMARCK)
    assert disjoint is not None and disjoint.bbox() is None


@pytest.mark.parametrize(
    ("georel", "geometry", "coordinates"),
    [
        ("near", "Point", BISMARCK),
        ("near;maxDistance=100", "Point", BISMARCK),
        ("near;maxDistance==-1", "Point", BISMARCK),
        ("near;maxDistance==abc", "Point", BISMARCK),
        ("near;maxDistance==1e30", "Point", BISMARCK),
        ("nearby", "Point", BISMARCK),
        ("within", "Circle", BISMARCK),
        ("within", "Point", "[8.6,"),
        ("within", "Point", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]"),
        ("within", "Point", [200, 49]),
        ("within", "Point", [8, 95]),
        ("within", "Point", [8]),
        ("within", "Point", ["8", "49"]),
        ("within", "Point", [True, False]),
        ("within", "Point", [float("nan"), 49]),
        ("within", "Point", [[8, 49]]),
        ("within", "LineString", [[8, 49]]),
        ("within", "Polygon", [[[8, 49], [9, 49], [9, 50]]]),  # three positions
        ("within", "Polygon", [[[8, 49], [9, 49], [9, 50], [8, 50]]]),  # not closed
        # A bow tie: self-intersecting, invalid.
        ("within", "Polygon", [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]),
        ("within", "Polygon", []),
        ("within", "Point", None),
        (None, "Point", BISMARCK),
        ("within", None, BISMARCK),
    ],
)
def test_bad_geoqueries_are_bad_request_data(
    georel: str | None, geometry: str | None, coordinates: Any
) -> None:
    with pytest.raises(QueryError) as err:
        parse_geoquery(georel, geometry, coordinates)
    assert err.value.status == 400
    assert err.value.problem == "BadRequestData"


def test_enormous_geometries_are_refused() -> None:
    ring = [[8 + i * 1e-6, 49.0] for i in range(MAX_POSITIONS + 1)]
    with pytest.raises(QueryError):
        parse_geometry("LineString", ring)
    with pytest.raises(QueryError):
        parse_geometry("LineString", json.dumps(ring) + " " * 300_000)
    parse_geometry("LineString", ring[:MAX_POSITIONS])


def test_bad_geoproperty_name() -> None:
    with pytest.raises(QueryError):
        parse_geoquery("within", "Polygon", SQUARE, "location;drop table")
