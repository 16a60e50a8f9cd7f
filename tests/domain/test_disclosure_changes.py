"""Which amendments are material: every field of a project, each changed in both directions."""

from __future__ import annotations

import re
from pathlib import Path as FsPath
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from charter.domain.disclosure import Access, Processing
from charter.domain.disclosure_changes import (
    ATOMIC,
    EDITORIAL,
    Path,
    is_editorial,
    leaves,
    material_changes,
)
from charter.domain.model import Project
from charter.sim import city as sample

DOCS = FsPath(__file__).resolve().parents[2] / "docs" / "lifecycle.md"
# Segments after these names are keys chosen by the project (a category, a field, a principle).
KEYED = ("categories", "fields", "principles", "attributes")


def rich() -> Project:
    """A project in which every field of every model is set somewhere."""
    traffic = sample.projects()[1][0]
    water = sample.WATER_LEVEL
    return traffic.model_copy(
        update={
            "categories": [sample.TRAFFIC_COUNT, sample.CROSSING_REQUEST, water],
            "vendor_ids": [sample.TRUSTED, sample.UNTRUSTED],
        }
    )


def _populated(value: Any, seen: set[tuple[str, str]], set_: set[tuple[str, str]]) -> None:
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            item = getattr(value, name)
            seen.add((type(value).__name__, name))
            if item not in (None, [], {}):
                set_.add((type(value).__name__, name))
            _populated(item, seen, set_)
    elif isinstance(value, list | tuple):
        for item in value:
            _populated(item, seen, set_)
    elif isinstance(value, dict):
        for item in value.values():
            _populated(item, seen, set_)


def test_the_sample_sets_every_field_of_every_model() -> None:
    """So that a field added to the model is changed below, and found material."""
    seen: set[tuple[str, str]] = set()
    populated: set[tuple[str, str]] = set()
    _populated(rich(), seen, populated)
    assert seen - populated == set()


def pattern(path: Path) -> str:
    out = list(path)
    for i in range(len(out) - 1):
        if out[i] in KEYED:
            out[i + 1] = "*"
    return ".".join(out)


# Where adding text would break the field's own rule, the change made instead.
SPECIAL: dict[str, Any] = {
    "id": lambda v: v + "-2",
    "status": "suspended",
    "categories.*.name": lambda v: v + "_renamed",
    "categories.*.identifier": None,
    "categories.*.fields.*.type": lambda v: "integer" if v == "number" else "number",
    "categories.*.ngsi.type": lambda v: v + "Changed",
    "disclosure.indicators": lambda v: [],
    "disclosure.area": sample.Area(
        coordinates=[[(4.90, 52.36), (4.92, 52.36), (4.92, 52.38), (4.90, 52.38), (4.90, 52.36)]]
    ).model_dump(mode="json"),
}


def _change(value: Any, key: str) -> Any:
    if key in SPECIAL:
        special = SPECIAL[key]
        return special(value) if callable(special) else special
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + " (changed)"
    if isinstance(value, list):
        return value[:-1]
    raise AssertionError(f"no change known for {key}: add one to SPECIAL")


def changed(project: Project, path: Path) -> Project:
    """The project with the value at `path` (a path of `leaves`) changed."""
    doc = project.model_dump(mode="json")
    node: Any = doc
    for i, step in enumerate(path[:-1]):
        if i == 0 and step == "categories":
            node = node["categories"]
            continue
        if i == 1 and path[0] == "categories":
            node = next(c for c in node if c["name"] == step)
            continue
        node = node[step]
    key = pattern(path)
    node[path[-1]] = _change(node[path[-1]], key)
    try:
        return Project.model_validate(doc)
    except ValidationError as e:  # pragma: no cover - a hint for whoever adds a field
        raise AssertionError(f"changing {key} made an invalid project; add it to SPECIAL") from e


def _paths() -> list[Path]:
    # An identifier's field must stay a string; the other fields' types are changed instead.
    return [
        p
        for p, v in leaves(rich()).items()
        if v not in (None, [], {}) and not (p[-1] == "type" and v == "string")
    ]


@pytest.mark.parametrize("path", _paths(), ids=lambda p: ".".join(p))
def test_every_field_is_material_in_both_directions_unless_editorial(path: Path) -> None:
    a = rich()
    b = changed(a, path)
    assert leaves(a)[path] != leaves(b).get(path)
    if is_editorial(path):
        assert material_changes(a, b) == [] and material_changes(b, a) == []
    else:
        assert material_changes(a, b), f"{pattern(path)}: change not found material"
        assert material_changes(b, a), f"{pattern(path)}: change back not found material"


def test_every_field_is_listed_in_the_lifecycle_guide() -> None:
    text = DOCS.read_text()
    missing = sorted({pattern(p) for p in leaves(rich())} - set(re.findall(r"`([a-z_.*]+)`", text)))
    assert missing == []
    for editorial in EDITORIAL | ATOMIC:
        assert f"`{'.'.join(editorial)}`" in text


def _cat(project: Project, name: str, **update: Any) -> Project:
    cats = [c.model_copy(update=update) if c.name == name else c for c in project.categories]
    return project.model_copy(update={"categories": cats})


def test_declassifying_personal_data_is_material() -> None:
    old = rich()
    new = _cat(old, "pedestrian.crossing_request", personal=False, identifier=None)
    changes = material_changes(old, new)
    assert "pedestrian.crossing_request is no longer declared personal" in changes
    assert "pedestrian.crossing_request becomes personal" in material_changes(new, old)


def test_retention_shorter_or_longer_access_narrower_or_wider_are_material() -> None:
    old = rich()
    shorter = _cat(old, "traffic.count", retention_days=1)
    assert material_changes(old, shorter) == ["shorter retention of traffic.count"]
    assert material_changes(shorter, old) == ["longer retention of traffic.count"]
    cd = sample.TRAFFIC_COUNT.disclosure
    assert cd is not None
    wider = _cat(
        old,
        "traffic.count",
        disclosure=cd.model_copy(update={"access": [*cd.access, Access.VENDOR]}),
    )
    assert material_changes(old, wider) == ["access of traffic.count changes (adds vendor)"]
    assert material_changes(wider, old) == ["access of traffic.count changes (removes vendor)"]
    raw = _cat(
        old, "traffic.count", disclosure=cd.model_copy(update={"processing": [Processing.RAW]})
    )
    assert material_changes(old, raw) == [
        "processing of traffic.count changes (adds raw; removes aggregated)"
    ]


def test_purposes_categories_and_vendors_are_material_both_ways() -> None:
    old = rich()
    assert old.disclosure is not None
    tags = old.disclosure.model_copy(update={"purposes": [*old.disclosure.purposes, "marketing"]})
    more = old.model_copy(update={"disclosure": tags})
    assert material_changes(old, more) == ["disclosure.purposes changes (adds marketing)"]
    assert material_changes(more, old) == ["disclosure.purposes changes (removes marketing)"]
    fewer = old.model_copy(
        update={"categories": old.categories[:1], "vendor_ids": [sample.TRUSTED]}
    )
    assert material_changes(old, fewer) == [
        "data category pedestrian.crossing_request removed",
        "data category water.level removed",
        f"vendor {sample.UNTRUSTED} removed",
    ]
    assert material_changes(fewer, old)[:2] == [
        "new data category pedestrian.crossing_request",
        "new data category water.level",
    ]


def test_order_of_tags_is_not_a_change_but_editorial_fields_are_the_only_free_ones() -> None:
    old = rich()
    assert old.disclosure is not None
    shuffled = old.model_copy(
        update={
            "vendor_ids": list(reversed(old.vendor_ids)),
            "categories": list(reversed(old.categories)),
            "disclosure": old.disclosure.model_copy(
                update={"purposes": list(reversed(old.disclosure.purposes))}
            ),
        }
    )
    assert material_changes(old, shuffled) == []
    renamed = old.model_copy(update={"name": "Safer crossings"})
    assert material_changes(old, renamed) == []
    assert material_changes(old, old.model_copy(update={"purpose": "Other"})) == [
        "the purpose changes"
    ]
