"""NGSI-LD entities: from a request body (normalized or concise) to the stored form.

The stored form (`charter.store.ngsild.StoredEntity`) keeps the entity's id,
its expanded types and its attributes by expanded name, each a list of
instances (one per datasetId). An instance is a dict with the NGSI-LD members
under their short core names (`type`, `value`, `object`, `languageMap`,
`datasetId`, `observedAt`, `unitCode`, `createdAt`, `modifiedAt`, ...) and its
sub-attributes (one instance each) under their expanded names, which always
contain a ':' and so never clash with a core member.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from charter.ngsild.context import DEFAULT_VOCAB, NGSILD, Terms
from charter.ngsild.errors import bad_data

PROPERTY = "Property"
RELATIONSHIP = "Relationship"
GEOPROPERTY = "GeoProperty"
LANGUAGEPROPERTY = "LanguageProperty"
JSONPROPERTY = "JsonProperty"
VOCABPROPERTY = "VocabProperty"
LISTPROPERTY = "ListProperty"
LISTRELATIONSHIP = "ListRelationship"
ATTRIBUTE_TYPES = {
    PROPERTY: "value",
    RELATIONSHIP: "object",
    GEOPROPERTY: "value",
    LANGUAGEPROPERTY: "languageMap",
    JSONPROPERTY: "json",
    VOCABPROPERTY: "vocab",
    LISTPROPERTY: "valueList",
    LISTRELATIONSHIP: "objectList",
}
# Members of an attribute that are not sub-attributes.
CORE_MEMBERS = frozenset(
    {
        "type", "value", "object", "languageMap", "json", "vocab", "valueList", "objectList",
        "objectType", "datasetId", "observedAt", "unitCode", "createdAt", "modifiedAt",
        "instanceId", "deletedAt", "lang",
    }
)  # fmt: skip
SYSTEM_MEMBERS = frozenset({"createdAt", "modifiedAt", "deletedAt", "instanceId"})
# Core IRIs an attribute may be named by (clause 4.7: the geo and space ones).
ALLOWED_CORE_NAMES = frozenset(
    NGSILD + n for n in ("location", "observationSpace", "operationSpace")
)
ENTITY_MEMBERS = frozenset({"@context", "id", "type", "scope", "createdAt", "modifiedAt"})
GEOMETRIES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
)
MAX_COORDINATES = 10_000  # positions in one geometry
MAX_ID_LENGTH = 512
MAX_ATTRIBUTES = 1000
MAX_DEPTH = 8  # sub-attributes of sub-attributes ...
_FORBIDDEN_NAME = re.compile(r"[\s<>\"'=;()\[\]{}\\]")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")


def is_uri(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_ID_LENGTH and bool(_URI.match(value))


def check_id(value: Any, what: str = "the entity id") -> str:
    if not is_uri(value):
        raise bad_data(f"{what} must be a URI")
    return str(value)


def parse_time(value: Any, what: str) -> int:
    """An ISO 8601 date-time with an offset, as milliseconds since the epoch."""
    if not isinstance(value, str) or len(value) > 40:
        raise bad_data(f"{what} must be an ISO 8601 date-time")
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise bad_data(f"{what} must be an ISO 8601 date-time") from None
    if t.tzinfo is None:
        raise bad_data(f"{what} must carry a time zone (e.g. Z)")
    return int(t.timestamp() * 1000)


def expand_name(terms: Terms, name: Any, what: str = "attribute") -> str:
    """The IRI of an attribute, type or vocab name, checked; a name that passed before under
    these terms is answered from their memo (the checks depend on the name alone)."""
    known = terms.checked.get(name) if isinstance(name, str) else None
    if known is not None:
        return known
    iri = _expand_name(terms, name, what)
    terms.remember_checked(name, iri)
    return iri


def _expand_name(terms: Terms, name: Any, what: str) -> str:
    if not isinstance(name, str) or not name or len(name) > 256:
        raise bad_data(f"an {what} name must be a non-empty string")
    if name.startswith("@") or _FORBIDDEN_NAME.search(name):
        raise bad_data(f"an {what} name contains a character NGSI-LD does not allow")
    iri = terms.expand(name)
    if iri is None or iri.startswith("@"):
        raise bad_data(f"an {what} name expands to a JSON-LD keyword")
    core = iri.startswith(NGSILD) and not iri.startswith(DEFAULT_VOCAB)
    if core and iri not in ALLOWED_CORE_NAMES:
        raise bad_data(f"an {what} name expands to a reserved NGSI-LD term")
    return iri


def expand_type(terms: Terms, value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or len(items) > 32:
        raise bad_data("the entity type must be a name or a list of up to 32 names")
    out: list[str] = []
    for t in items:
        iri = expand_name(terms, t, "entity type")
        if iri not in out:
            out.append(iri)
    return out


def entity(
    terms: Terms, body: Any, *, need_id: bool = True, need_type: bool = True
) -> tuple[str | None, list[str] | None, list[str] | None, dict[str, list[dict[str, Any]]]]:
    """(id, types, scope, attributes) of an entity fragment, expanded and validated."""
    if not isinstance(body, dict):
        raise bad_data("the entity must be a JSON object")
    entity_id = check_id(body["id"]) if "id" in body else None
    if need_id and entity_id is None:
        raise bad_data("the entity has no id")
    types = expand_type(terms, body["type"]) if "type" in body else None
    if need_type and types is None:
        raise bad_data("the entity has no type")
    scope = _scope(body["scope"]) if "scope" in body else None
    attrs = attributes(terms, {k: v for k, v in body.items() if k not in ENTITY_MEMBERS})
    return entity_id, types, scope, attrs


def _scope(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    for s in items:
        if not isinstance(s, str) or not re.fullmatch(r"(/[\w\-]+)+", s):
            raise bad_data("a scope must look like /a/b")
    return list(items)


def attributes(terms: Terms, members: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    if len(members) > MAX_ATTRIBUTES:
        raise bad_data(f"an entity has at most {MAX_ATTRIBUTES} attributes")
    out: dict[str, list[dict[str, Any]]] = {}
    for name, value in members.items():
        iri = expand_name(terms, name)
        items = value if isinstance(value, list) and _is_instance_list(value) else [value]
        instances = [attribute(terms, v, name) for v in items]
        seen: set[str | None] = set()
        for inst in instances:
            ds = inst.get("datasetId")
            if ds in seen:
                raise bad_data("two instances of one attribute have the same datasetId")
            seen.add(ds)
        out.setdefault(iri, []).extend(instances)
    return out


def _is_instance_list(value: list[Any]) -> bool:
    # A list of attribute objects is multi-instance; any other list is a concise value.
    return bool(value) and all(isinstance(v, dict) and _looks_like_attribute(v) for v in value)


def _looks_like_attribute(v: dict[str, Any]) -> bool:
    return v.get("type") in ATTRIBUTE_TYPES or any(
        k in v for k in ("value", "object", "languageMap", "json", "vocab", "valueList")
    )


def attribute(terms: Terms, raw: Any, name: str, depth: int = 0) -> dict[str, Any]:
    """One attribute instance, normalized (concise input is accepted, clause 4.5.3)."""
    if depth > MAX_DEPTH:
        raise bad_data("sub-attributes nest too deeply")
    if not isinstance(raw, dict):
        return {"type": PROPERTY, "value": _value(raw, name)}
    kind = raw.get("type")
    if kind is None or kind not in ATTRIBUTE_TYPES:
        if isinstance(kind, str) and kind in GEOMETRIES and "coordinates" in raw:
            return {"type": GEOPROPERTY, "value": geometry(raw, name)}
        if kind is not None:
            raise bad_data(f"attribute {name!r} has a type NGSI-LD does not know")
        kind = _infer(raw)
        if kind is None:  # concise: a JSON object as the value
            return {"type": PROPERTY, "value": _value(raw, name)}
    inst: dict[str, Any] = {"type": kind}
    member = ATTRIBUTE_TYPES[kind]
    if member not in raw or raw[member] is None:
        raise bad_data(f"attribute {name!r} ({kind}) has no {member}")
    inst[member] = _member(terms, kind, raw[member], name)
    if "objectType" in raw and kind in (RELATIONSHIP, LISTRELATIONSHIP):
        inst["objectType"] = expand_name(terms, raw["objectType"], "object type")
    if "datasetId" in raw:
        inst["datasetId"] = check_id(raw["datasetId"], "a datasetId")
    if "observedAt" in raw:
        parse_time(raw["observedAt"], "observedAt")
        inst["observedAt"] = raw["observedAt"]
    if "unitCode" in raw:
        if not isinstance(raw["unitCode"], str) or len(raw["unitCode"]) > 32:
            raise bad_data("unitCode must be a short string (UN/CEFACT code)")
        inst["unitCode"] = raw["unitCode"]
    for key, sub in raw.items():
        if key in CORE_MEMBERS:
            continue
        iri = expand_name(terms, key, "sub-attribute")
        inst[iri] = attribute(terms, sub, key, depth + 1)
    return inst


def _infer(raw: dict[str, Any]) -> str | None:
    for kind in (RELATIONSHIP, LANGUAGEPROPERTY, JSONPROPERTY, VOCABPROPERTY, LISTPROPERTY):
        if ATTRIBUTE_TYPES[kind] in raw:
            return kind
    if "objectList" in raw:
        return LISTRELATIONSHIP
    if "value" in raw:
        v = raw["value"]
        if isinstance(v, dict) and v.get("type") in GEOMETRIES and "coordinates" in v:
            return GEOPROPERTY
        return PROPERTY
    return None


def _member(terms: Terms, kind: str, value: Any, name: str) -> Any:
    if kind == RELATIONSHIP:
        items = value if isinstance(value, list) else [value]
        if not items or not all(is_uri(o) for o in items):
            raise bad_data(f"the object of relationship {name!r} must be a URI")
        return value
    if kind == LISTRELATIONSHIP:
        if not isinstance(value, list):
            raise bad_data(f"the objectList of {name!r} must be a list")
        for o in value:
            target = o.get("object") if isinstance(o, dict) else o
            if not is_uri(target):
                raise bad_data(f"the objectList of {name!r} must hold URIs")
        return value
    if kind == GEOPROPERTY:
        return geometry(value, name)
    if kind == LANGUAGEPROPERTY:
        if not isinstance(value, dict) or not value:
            raise bad_data(f"the languageMap of {name!r} must be an object")
        for lang, text in value.items():
            ok = isinstance(text, str) or (
                isinstance(text, list) and all(isinstance(t, str) for t in text)
            )
            if (
                not isinstance(lang, str)
                or not re.fullmatch(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*|@none", lang)
                or not ok
            ):
                raise bad_data(f"the languageMap of {name!r} must map language tags to strings")
        return value
    if kind == VOCABPROPERTY:
        items = value if isinstance(value, list) else [value]
        expanded = [expand_name(terms, v, "vocab") for v in items]
        return expanded if isinstance(value, list) else expanded[0]
    if kind == LISTPROPERTY:
        if not isinstance(value, list):
            raise bad_data(f"the valueList of {name!r} must be a list")
        return [_value(v, name) for v in value]
    if kind == JSONPROPERTY:
        return value
    return _value(value, name)


def _value(value: Any, name: str) -> Any:
    if value is None:
        raise bad_data(f"attribute {name!r} has a null value")
    if isinstance(value, float) and not math.isfinite(value):
        raise bad_data(f"attribute {name!r} has a value that is not a finite number")
    return value


def geometry(value: Any, name: str) -> dict[str, Any]:
    """A GeoJSON geometry (RFC 7946) of bounded size, checked by shapely."""
    if isinstance(value, str):  # WKT is not supported: GeoJSON only
        raise bad_data(f"the geometry of {name!r} must be a GeoJSON object")
    if not isinstance(value, dict) or value.get("type") not in GEOMETRIES:
        raise bad_data(f"the geometry of {name!r} must be a GeoJSON geometry")
    coords: Any = value.get("coordinates")
    count = _positions(coords, 0)
    if count > MAX_COORDINATES:
        raise bad_data(f"the geometry of {name!r} has more than {MAX_COORDINATES} positions")
    if value["type"] == "Point" and not isinstance(coords[0], list):
        # One position, already checked (two or three finite numbers): shapely would find
        # it valid and its bounds the position itself; skip building the shape.
        lon, lat = coords[0], coords[1]
        if lon < -180 or lon > 180 or lat < -90 or lat > 90:
            raise bad_data(f"the geometry of {name!r} lies outside longitude/latitude bounds")
        return {"type": "Point", "coordinates": coords}
    import shapely.geometry

    try:
        shape = shapely.geometry.shape(value)
    except (ValueError, TypeError, AttributeError, IndexError):
        raise bad_data(f"the geometry of {name!r} is not a valid GeoJSON geometry") from None
    if shape.is_empty or not shape.is_valid:
        raise bad_data(f"the geometry of {name!r} is not a valid GeoJSON geometry")
    minx, miny, maxx, maxy = shape.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise bad_data(f"the geometry of {name!r} lies outside longitude/latitude bounds")
    return {"type": value["type"], "coordinates": coords}


def _positions(coords: Any, depth: int) -> int:
    if depth > 4 or not isinstance(coords, list) or not coords:
        raise bad_data("GeoJSON coordinates must be nested lists of numbers")
    if all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords):
        if len(coords) not in (2, 3) or not all(math.isfinite(c) for c in coords):
            raise bad_data("a GeoJSON position has two or three finite numbers")
        return 1
    total = 0
    for c in coords:
        total += _positions(c, depth + 1)
        if total > MAX_COORDINATES:
            return total
    return total
