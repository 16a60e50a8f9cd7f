"""NGSI-LD geo-queries (ETSI GS CIM 009 v1.8, clause 4.10) on shapely.

``georel`` is ``near;maxDistance==<m>`` / ``near;minDistance==<m>``, ``within``, ``contains``,
``intersects``, ``equals``, ``disjoint`` or ``overlaps``; ``geometry`` one of the GeoJSON
types Point, MultiPoint, LineString, MultiLineString, Polygon, MultiPolygon; ``coordinates``
its coordinates (a JSON array, or a list in a POST body); ``geoproperty`` the GeoProperty to
test (``location`` by default).  The relation reads "entity geometry <georel> query geometry":
``within`` = the entity lies inside the query's area, ``contains`` = the entity's area contains
the query geometry.

Distances are metres: the haversine great-circle distance between points, and for other
shapes the planar distance in a local equirectangular projection centred on the query geometry
(error well under 1 % over a city; the projection is what lets shapely measure).  Geometries
are refused (400 BadRequestData) when malformed, invalid, outside WGS 84 bounds or enormous.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely import prepared
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from charter.ngsild.query import QueryError

GEOMETRIES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
GEORELS = ("near", "within", "contains", "intersects", "equals", "disjoint", "overlaps")
MAX_POSITIONS = 10_000
MAX_COORDINATES_TEXT = 200_000
MAX_DISTANCE_M = 20_037_509.0  # half the equator: anything farther is everywhere
EARTH_RADIUS_M = 6_371_008.8


def _bad(detail: str) -> QueryError:
    return QueryError("BadRequestData", "ngsild_bad_geoquery", detail)


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _positions(coords: Any, depth: int) -> int:
    """Count positions, checking each is [lon, lat(, alt)] of finite numbers in range."""
    if depth == 0:
        if not isinstance(coords, (list, tuple)) or not 2 <= len(coords) <= 3:
            raise _bad("a position is [longitude, latitude] or [longitude, latitude, altitude]")
        for number in coords:
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise _bad("coordinates must be numbers")
            if not math.isfinite(number):
                raise _bad("coordinates must be finite")
        lon, lat = coords[0], coords[1]
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise _bad("coordinates outside WGS 84 longitude/latitude bounds")
        return 1
    if not isinstance(coords, (list, tuple)) or not coords:
        raise _bad("coordinates do not have the nesting the geometry type needs")
    total = 0
    for item in coords:
        total += _positions(item, depth - 1)
        if total > MAX_POSITIONS:
            raise _bad(f"geometry has more than {MAX_POSITIONS} positions")
    return total


_DEPTH = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}


def parse_geometry(kind: str, coordinates: Any) -> BaseGeometry:
    """A validated shapely geometry from a GeoJSON type and coordinates (list or JSON text)."""
    if kind not in _DEPTH:
        raise _bad("geometry must be one of " + ", ".join(GEOMETRIES))
    if isinstance(coordinates, str):
        if len(coordinates) > MAX_COORDINATES_TEXT:
            raise _bad("coordinates too long")
        try:
            coordinates = json.loads(coordinates)
        except (ValueError, RecursionError) as exc:
            raise _bad("coordinates are not a JSON array") from exc
    _positions(coordinates, _DEPTH[kind])
    if kind == "LineString" and len(coordinates) < 2:
        raise _bad("a LineString needs at least two positions")
    rings: list[Sequence[Any]] = []
    if kind == "Polygon":
        rings = list(coordinates)
    elif kind == "MultiPolygon":
        rings = [ring for polygon in coordinates for ring in polygon]
    for ring in rings:
        if len(ring) < 4 or list(ring[0]) != list(ring[-1]):
            raise _bad("a polygon ring needs four or more positions, the last equal to the first")
    try:
        geometry = shape({"type": kind, "coordinates": coordinates})
    except (ValueError, TypeError, AttributeError) as exc:
        raise _bad("geometry could not be built") from exc
    if geometry.is_empty or not geometry.is_valid:
        raise _bad("geometry is not valid (for example a self-intersecting polygon)")
    return geometry


def geometry_from_geojson(value: Any) -> BaseGeometry | None:
    """An entity's GeoProperty value as shapely geometry; None when not a usable geometry."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, Mapping):
        return None
    try:
        return parse_geometry(str(value.get("type")), value.get("coordinates"))
    except QueryError:
        return None


def _local_projection(lon0: float, lat0: float) -> Callable[[Any], Any]:
    """Lon/lat degrees to metres east/north of (lon0, lat0) (equirectangular, vectorised)."""
    scale_x = math.radians(1) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
    scale_y = math.radians(1) * EARTH_RADIUS_M

    def project(coords: Any) -> Any:
        out = coords.copy()
        out[:, 0] = (coords[:, 0] - lon0) * scale_x
        out[:, 1] = (coords[:, 1] - lat0) * scale_y
        return out

    return project


@dataclass
class GeoQuery:
    georel: str
    geometry: BaseGeometry
    geoproperty: str = "location"
    max_distance: float | None = None
    min_distance: float | None = None
    _prepared: Any = field(default=None, repr=False)
    _project: Callable[[Any], Any] | None = field(default=None, repr=False)
    _projected: BaseGeometry | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._prepared = prepared.prep(self.geometry)
        centre = self.geometry.centroid
        self._project = _local_projection(centre.x, centre.y)
        self._projected = shapely.transform(self.geometry, self._project)

    def distance_m(self, other: BaseGeometry) -> float:
        """Metres between ``other`` and the query geometry."""
        if self.geometry.geom_type == "Point" and other.geom_type == "Point":
            return haversine_m(self.geometry.x, self.geometry.y, other.x, other.y)
        assert self._project is not None and self._projected is not None
        return float(shapely.transform(other, self._project).distance(self._projected))

    def relate(self, other: BaseGeometry) -> bool:
        """Whether an entity geometry ``other`` satisfies the georel."""
        rel = self.georel
        if rel == "near":
            distance = self.distance_m(other)
            if self.max_distance is not None and distance > self.max_distance:
                return False
            return not (self.min_distance is not None and distance < self.min_distance)
        if rel == "within":
            return bool(self._prepared.contains(other))
        if rel == "contains":
            return bool(other.contains(self.geometry))
        if rel == "intersects":
            return bool(self._prepared.intersects(other))
        if rel == "disjoint":
            return bool(self._prepared.disjoint(other))
        if rel == "overlaps":
            return bool(self._prepared.overlaps(other))
        return bool(other.equals(self.geometry))  # equals

    def matches(self, entity: Mapping[str, Any], resolve: Callable[[str], str] = str) -> bool:
        """Whether an entity (normalized or keyValues) has a geoproperty satisfying the georel."""
        raw = entity.get(resolve(self.geoproperty))
        instances = raw if isinstance(raw, list) else [raw]
        for instance in instances:
            if instance is None:
                continue
            value = instance.get("value", instance) if isinstance(instance, Mapping) else None
            geometry = geometry_from_geojson(value)
            if geometry is not None and self.relate(geometry):
                return True
        return False

    def bbox(self) -> tuple[float, float, float, float] | None:
        """A lon/lat box every matching entity's geometry touches (SQL prefilter), or None."""
        if self.georel in ("disjoint",) or (self.georel == "near" and self.max_distance is None):
            return None
        minx, miny, maxx, maxy = self.geometry.bounds
        if self.georel == "near" and self.max_distance is not None:
            dlat = math.degrees(self.max_distance / EARTH_RADIUS_M)
            coslat = max(0.01, math.cos(math.radians(max(abs(miny), abs(maxy)) + dlat)))
            dlon = dlat / coslat
            minx, maxx = max(-180.0, minx - dlon), min(180.0, maxx + dlon)
            miny, maxy = max(-90.0, miny - dlat), min(90.0, maxy + dlat)
        return (minx, miny, maxx, maxy)


_NEAR = re.compile(r"^near;(maxDistance|minDistance)==([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?\d+)?)$")


def parse_geoquery(
    georel: str | None,
    geometry: str | None,
    coordinates: Any,
    geoproperty: str | None = None,
) -> GeoQuery | None:
    """The geo-query of a request; None when none is asked; 400 when incomplete or wrong."""
    if georel is None and geometry is None and coordinates is None:
        return None
    if georel is None or geometry is None or coordinates is None:
        raise _bad("a geo-query needs georel, geometry and coordinates together")
    if len(georel) > 200:
        raise _bad("georel too long")
    max_d: float | None = None
    min_d: float | None = None
    rel = georel.strip()
    if rel.startswith("near"):
        parts = rel.split(";")
        if len(parts) < 2 or len(parts) > 3:
            raise _bad("near needs maxDistance== or minDistance== (metres)")
        for extra in parts[1:]:
            match = _NEAR.match("near;" + extra)
            if not match:
                raise _bad("near needs maxDistance== or minDistance== (metres)")
            distance = float(match.group(2))
            if not math.isfinite(distance) or distance > MAX_DISTANCE_M:
                raise _bad("distance out of range")
            if match.group(1) == "maxDistance":
                max_d = distance
            else:
                min_d = distance
        rel = "near"
    elif rel not in GEORELS:
        raise _bad("georel must be one of " + ", ".join(GEORELS))
    shape_ = parse_geometry(geometry, coordinates)
    prop = geoproperty or "location"
    if not re.fullmatch(r"[A-Za-z0-9_:/#.\-]{1,256}", prop):
        raise _bad("geoproperty is not an attribute name")
    return GeoQuery(rel, shape_, prop, max_d, min_d)
