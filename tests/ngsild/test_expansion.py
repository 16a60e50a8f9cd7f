"""Charter's fast expansion (one processed @context per request, a memoised term -> IRI map)
gives the names and types pyld's full JSON-LD expansion gives, on a varied corpus; and the
fast check of a Point gives what shapely's does."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
import shapely.geometry
from hypothesis import given, settings
from hypothesis import strategies as st
from pyld import jsonld

from charter.ngsild import model
from charter.ngsild.context import CORE_CONTEXT, DEFAULT_VOCAB, NGSILD, Contexts
from charter.ngsild.errors import NgsiError
from charter.ngsild.register import SDM_CONTEXT

CONTEXTS: list[Any] = [
    None,
    SDM_CONTEXT,
    {"temperature": "https://example.org/t", "ex": "https://example.org/"},
    {"ex": "https://example.org/", "brandName": "ex:brand", "Car": "ex:Car", "speed": "ex:speed"},
    {"speed": {"@id": "https://example.org/speed", "@type": "@id"}, "Thing": "urn:x:Thing"},
    [SDM_CONTEXT, {"name2": "https://example.org/name2"}],
]
NAMES = ["temperature", "brandName", "speed", "name", "location", "refDevice", "ex:other",
         "https://example.org/full", "name2", "dateObserved", "pm25", "a1"]  # fmt: skip
TYPES = ["Thing", "Car", "WeatherObserved", "ex:T", "https://example.org/Full"]
VALUES = st.one_of(
    st.integers(-100, 100),
    st.text(alphabet="abc", max_size=3),
    st.just({"type": "Point", "coordinates": [8.6, 49.4]}),
)


def _attribute(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(["Property", "Relationship", "sub"]))
    if kind == "Relationship":
        return {"type": "Relationship", "object": "urn:ngsi-ld:Thing:2"}
    value = draw(VALUES)
    if isinstance(value, dict):
        return {"type": "GeoProperty", "value": value}
    out: dict[str, Any] = {"type": "Property", "value": value}
    if kind == "sub":
        out[draw(st.sampled_from(NAMES[:4]))] = {"type": "Property", "value": 1}
    return out


@st.composite
def entities(draw: Any) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    body: dict[str, Any] = {
        "id": "urn:ngsi-ld:Thing:1",
        "type": draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=2, unique=True)),
    }
    for n in names:
        body[n] = _attribute(draw)
    return body


def _pyld(contexts: Contexts, context: Any, body: dict[str, Any]) -> dict[str, Any]:
    parts = [] if context is None else context if isinstance(context, list) else [context]
    doc = {"@context": [*parts, CORE_CONTEXT], **body}
    loader = contexts._loader(time.monotonic() + 10)
    out = jsonld.expand(doc, {"documentLoader": loader})
    assert len(out) == 1
    expanded: dict[str, Any] = out[0]
    return expanded


def _subs(inst: dict[str, Any]) -> set[str]:
    return {k for k in inst if ":" in k}


def _pyld_subs(node: dict[str, Any]) -> set[str]:
    core = {k for k in node if k.startswith(NGSILD) and not k.startswith(DEFAULT_VOCAB)}
    return {k for k in node if not k.startswith("@")} - core


CONTEXTS_ = Contexts()


@pytest.mark.parametrize("context", CONTEXTS, ids=lambda c: str(c)[:40])
@settings(max_examples=30, deadline=None)
@given(body=entities())
def test_names_and_types_expand_as_pyld_expands_them(context: Any, body: dict[str, Any]) -> None:
    terms = CONTEXTS_.resolve(context)
    try:
        _, types, _, attrs = model.entity(terms, dict(body))
    except NgsiError:
        return  # refused (e.g. a name that expands into the core vocabulary): nothing to compare
    full = _pyld(CONTEXTS_, context, body)
    assert types is not None and set(types) == set(full["@type"])
    assert set(attrs) == {k for k in full if not k.startswith("@")}
    for iri, instances in attrs.items():
        node = full[iri][0]
        assert _subs(instances[0]) == _pyld_subs(node), iri


COORD = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-400, max_value=400),
    st.integers(-400, 400),
)


@settings(max_examples=200, deadline=None)
@given(position=st.lists(COORD, min_size=2, max_size=3))
def test_a_point_is_checked_as_shapely_checks_it(position: list[float]) -> None:
    value = {"type": "Point", "coordinates": position}
    shape = shapely.geometry.shape(value)
    minx, miny, maxx, maxy = shape.bounds
    valid = (
        not shape.is_empty
        and shape.is_valid
        and -180 <= minx <= maxx <= 180
        and -90 <= miny <= maxy <= 90
        and all(math.isfinite(c) for c in position)
    )
    try:
        assert model.geometry(value, "location") == value
        accepted = True
    except NgsiError:
        accepted = False
    assert accepted == valid
