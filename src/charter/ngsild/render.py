"""Stored entities back to NGSI-LD: normalized, concise or keyValues, compacted.

`View` holds what a retrieval asked for (format, sysAttrs, attrs, pick/omit,
lang); `render(entity, terms, view)` gives the JSON object; GeoJSON output is
`feature()`. Names are compacted with the request's @context (clause 5.5.7).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from charter.domain.clock import iso
from charter.ngsild.context import Terms
from charter.ngsild.errors import bad_data
from charter.ngsild.model import (
    ATTRIBUTE_TYPES,
    GEOPROPERTY,
    LANGUAGEPROPERTY,
    PROPERTY,
    RELATIONSHIP,
    VOCABPROPERTY,
)
from charter.store.ngsild import StoredEntity

FORMATS = ("normalized", "concise", "keyValues")


@dataclass(frozen=True)
class View:
    format: str = "normalized"
    sys_attrs: bool = False
    attrs: frozenset[str] | None = None  # expanded names; None: all
    pick: frozenset[str] | None = None  # short member names (id, type, attribute names)
    omit: frozenset[str] = frozenset()
    lang: tuple[str, ...] = ()  # preferred language tags, "*" for any

    @classmethod
    def parse(
        cls,
        terms: Terms,
        *,
        options: str | None = None,
        format: str | None = None,
        attrs: str | None = None,
        pick: str | None = None,
        omit: str | None = None,
        lang: str | None = None,
    ) -> View:
        chosen = "normalized"
        sys_attrs = False
        for opt in _split(options):
            if opt in ("keyValues", "simplified"):
                chosen = "keyValues"
            elif opt == "concise":
                chosen = "concise"
            elif opt == "normalized":
                chosen = "normalized"
            elif opt == "sysAttrs":
                sys_attrs = True
            elif opt not in ("noOverwrite", "temporalValues", "audit", "aggregatedValues"):
                raise bad_data("options names a value NGSI-LD does not define")
        if format is not None:
            if format == "simplified":
                format = "keyValues"
            if format not in FORMATS:
                raise bad_data("format must be normalized, concise or keyValues")
            chosen = format
        if pick is not None and omit is not None:
            raise bad_data("pick and omit cannot be used together")
        names = _split(attrs)
        return cls(
            format=chosen,
            sys_attrs=sys_attrs,
            attrs=frozenset(terms.expand(a) or a for a in names) if names else None,
            pick=frozenset(_split(pick)) if pick is not None else None,
            omit=frozenset(_split(omit)),
            lang=tuple(_langs(lang)),
        )


def _split(value: str | None) -> list[str]:
    if not value:
        return []
    items = [v.strip() for v in value.split(",")]
    if len(items) > 1000 or any(not v for v in items):
        raise bad_data("a list parameter has an empty or too many items")
    return items


def _langs(value: str | None) -> list[str]:
    """Accept-Language style: 'fr,en;q=0.8' or '*'; by preference."""
    if not value:
        return []
    scored: list[tuple[float, int, str]] = []
    for i, part in enumerate(_split(value)):
        tag, _, q = part.partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            raise bad_data("lang is not a valid language list") from None
        scored.append((-weight, i, tag.strip()))
    return [t for _, _, t in sorted(scored)]


def render(e: StoredEntity, terms: Terms, view: View) -> dict[str, Any]:
    out: dict[str, Any] = {"id": e.id}
    types = [terms.compact(t) for t in e.types]
    out["type"] = types[0] if len(types) == 1 else types
    if e.scope is not None:
        out["scope"] = e.scope[0] if len(e.scope) == 1 else e.scope
    if view.sys_attrs:
        out["createdAt"] = iso(e.created_at)
        out["modifiedAt"] = iso(e.modified_at)
    for name, instances in e.attrs.items():
        if view.attrs is not None and name not in view.attrs:
            continue
        rendered = [_instance(i, terms, view) for i in instances]
        short = terms.compact(name)
        if view.format == "keyValues":
            values = [r for r in rendered]
            out[short] = values[0] if len(values) == 1 else values
        else:
            out[short] = rendered[0] if len(rendered) == 1 else rendered
    return _project(out, view)


def _project(out: dict[str, Any], view: View) -> dict[str, Any]:
    if view.pick is not None:
        return {k: v for k, v in out.items() if k in view.pick}
    if view.omit:
        return {k: v for k, v in out.items() if k not in view.omit}
    return out


def _choose(language_map: dict[str, Any], prefs: Iterable[str]) -> tuple[str, Any]:
    for tag in prefs:
        if tag == "*":
            break
        if tag in language_map:
            return tag, language_map[tag]
        for key in language_map:  # 'en' matches 'en-GB'
            if key.lower().startswith(tag.lower() + "-"):
                return key, language_map[key]
    if "@none" in language_map:
        return "@none", language_map["@none"]
    first = next(iter(language_map))
    return first, language_map[first]


def _instance(inst: dict[str, Any], terms: Terms, view: View) -> Any:
    kind = inst["type"]
    member = stored = ATTRIBUTE_TYPES[kind]
    main = inst[member]
    if kind == VOCABPROPERTY:
        main = [terms.compact(v) for v in main] if isinstance(main, list) else terms.compact(main)
    if kind == LANGUAGEPROPERTY and view.lang:
        tag, text = _choose(main, view.lang)
        if view.format == "keyValues":
            return text
        out: dict[str, Any] = {"type": PROPERTY, "value": text, "lang": tag}
        kind, member = PROPERTY, "value"
    elif view.format == "keyValues":
        return main
    else:
        out = {"type": kind, member: main}
    for key, value in inst.items():
        if key in ("type", member, stored, "lang", "deletedAt"):
            continue
        if key in ("createdAt", "modifiedAt"):
            if view.sys_attrs:
                out[key] = value
            continue
        if key == "objectType":
            out[key] = terms.compact(value)
        elif ":" in key:  # a sub-attribute
            out[terms.compact(key)] = _instance(value, terms, View(view.format, view.sys_attrs))
        elif key != "instanceId":
            out[key] = value
    if view.format == "concise":
        return _concise(out, kind, member)
    return out


def _concise(out: dict[str, Any], kind: str, member: str) -> Any:
    """Clause 4.5.3: drop what the reader can infer."""
    if kind in (PROPERTY, RELATIONSHIP, LANGUAGEPROPERTY) or (
        kind == GEOPROPERTY and isinstance(out.get("value"), dict)
    ):
        out = {k: v for k, v in out.items() if k != "type"}
    if kind == PROPERTY and list(out) == ["value"] and not isinstance(out["value"], dict | list):
        return out["value"]
    if kind == GEOPROPERTY and list(out) == ["value"]:
        return out["value"]
    return out


def feature(e: StoredEntity, terms: Terms, view: View, geoproperty: str) -> dict[str, Any]:
    """One entity as a GeoJSON Feature (clause 4.5.16): geometry from `geoproperty`."""
    props = render(e, terms, view)
    entity_id = props.pop("id")
    geom = None
    instances = e.attrs.get(geoproperty) or []
    if instances and instances[0].get("type") == GEOPROPERTY:
        geom = instances[0]["value"]
    return {"id": entity_id, "type": "Feature", "geometry": geom, "properties": props}
