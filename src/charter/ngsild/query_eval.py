"""Evaluation of a parsed NGSI-LD ``q`` (clause 4.9) against one entity.

The evaluator works on a *normalized* entity in its compacted form (``{"id", "type",
attr: {"type": "Property", "value": ...}}``, an attribute with several ``datasetId``
instances as a list); a ``resolve`` callback maps the query's terms to the entity's keys
when they differ (for example expanded IRIs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, time
from typing import Any

from charter.ngsild.query import (
    METADATA,
    And,
    AttrPath,
    Node,
    QValue,
    Range,
    Scalar,
    Term,
    ValueList,
    _compile_pattern,
    _kind,
    _plain,
    parse_datetime,
    parse_q,
)


def _coerce(target: object, like: Scalar) -> object:
    """The target value in the query value's type, or ``_NOPE`` when it cannot be."""
    kind = _kind(like)
    if kind in ("bool", "number"):
        return target if _kind(target) == kind else _NOPE
    if kind in ("string", "uri"):
        return target if isinstance(target, str) else _NOPE
    if not isinstance(target, str):
        return _NOPE
    try:
        if kind == "datetime":
            return parse_datetime(target)
        if kind == "date":
            return date.fromisoformat(target[:10])
        if kind == "time":
            return time.fromisoformat(target.rstrip("Z"))
    except ValueError:
        return _NOPE
    return _NOPE


_NOPE = object()


def _cmp(target: object, op: str, value: Scalar) -> bool:
    coerced = _coerce(target, value)
    if coerced is _NOPE:
        return False
    want = _plain(value)
    try:
        if op == "==":
            return bool(coerced == want)
        if op == ">":
            return bool(coerced > want)  # type: ignore[operator]
        if op == ">=":
            return bool(coerced >= want)  # type: ignore[operator]
        if op == "<":
            return bool(coerced < want)  # type: ignore[operator]
        if op == "<=":
            return bool(coerced <= want)  # type: ignore[operator]
    except TypeError:
        return False
    return False


def _equal(target: object, value: QValue) -> bool:
    if isinstance(value, ValueList):
        return any(_cmp(target, "==", item) for item in value.items)
    if isinstance(value, Range):
        return _cmp(target, ">=", value.low) and _cmp(target, "<=", value.high)
    return _cmp(target, "==", value)


def _flatten(values: Iterable[object]) -> list[object]:
    out: list[object] = []
    for value in values:
        if isinstance(value, list):
            out.extend(value)
        else:
            out.append(value)
    return out


def _instances(container: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    raw = container.get(key)
    if raw is None:
        return []
    if isinstance(raw, list):
        return [item for item in raw if isinstance(item, Mapping)]
    return [raw] if isinstance(raw, Mapping) else []


def _attr_value(attribute: Mapping[str, Any]) -> list[object]:
    kind = attribute.get("type")
    if kind == "Relationship" or ("object" in attribute and "value" not in attribute):
        return [attribute.get("object")]
    if kind == "LanguageProperty" or "languageMap" in attribute:
        langmap = attribute.get("languageMap")
        return list(langmap.values()) if isinstance(langmap, Mapping) else []
    for key in ("value", "valueList", "vocab", "json", "objectList"):
        if key in attribute:
            return [attribute[key]]
    return []


def target_values(
    entity: Mapping[str, Any], path: AttrPath, resolve: Callable[[str], str] = str
) -> list[object] | None:
    """The values ``path`` designates in ``entity``; None when the attribute is absent."""
    name = resolve(path.attr)
    if path.attr in ("id", "type") and not path.sub and not path.compound:
        raw = entity.get(path.attr)
        return None if raw is None else _flatten([raw])
    if path.attr in ("createdAt", "modifiedAt") and path.attr not in entity:
        return None
    level = _instances(entity, name)
    if not level:
        return None
    for i, sub in enumerate(path.sub):
        last = i == len(path.sub) - 1
        if last and sub in METADATA:
            found = [inst[sub] for inst in level if sub in inst]
            return _flatten(found) if found else None
        nested: list[Mapping[str, Any]] = []
        for inst in level:
            nested.extend(_instances(inst, resolve(sub)))
        if not nested:
            return None
        level = nested
    values = _flatten(v for inst in level for v in _attr_value(inst))
    for key in path.compound:
        deeper: list[object] = []
        for value in values:
            if isinstance(value, Mapping) and key in value:
                deeper.append(value[key])
        if not deeper:
            return None
        values = _flatten(deeper)
    return values


def _term(entity: Mapping[str, Any], term: Term, resolve: Callable[[str], str]) -> bool:
    values = target_values(entity, term.path, resolve)
    if term.op is None:
        return values is not None
    if values is None:
        return False
    assert term.value is not None
    if term.op in ("~=", "!~="):
        assert isinstance(term.value, str)
        compiled = _compile_pattern(term.value)
        hit = any(isinstance(v, str) and compiled.search(v) is not None for v in values)
        return hit if term.op == "~=" else not hit
    if term.op == "==":
        return any(_equal(v, term.value) for v in values)
    if term.op == "!=":
        return not any(_equal(v, term.value) for v in values)
    assert not isinstance(term.value, (Range, ValueList))
    return any(_cmp(v, term.op, term.value) for v in values)


def evaluate(node: Node, entity: Mapping[str, Any], resolve: Callable[[str], str] = str) -> bool:
    """Whether ``entity`` (normalized, compacted) matches the parsed query."""
    if isinstance(node, Term):
        return _term(entity, node, resolve)
    if isinstance(node, And):
        return all(evaluate(item, entity, resolve) for item in node.items)
    return any(evaluate(item, entity, resolve) for item in node.items)


def matches(q: str, entity: Mapping[str, Any], resolve: Callable[[str], str] = str) -> bool:
    """Parse and evaluate in one call (tests, one-off checks)."""
    return evaluate(parse_q(q), entity, resolve)
