"""Which changes to an approved project need the public's say again.

The whole project record is compared, field by field, in both directions: a
category that stops being personal is as material as one that becomes
personal, a vendor removed as much as one added, a shorter retention as much as
a longer one. A field is material unless it is listed in `EDITORIAL`, so a
field added to the model tomorrow is material from the day it exists. Only the
project's lifecycle state (`status`) is not part of what the public approves.

Pure functions over the domain model; the register (`registry/lifecycle.py`)
sends a material amendment to consultation and applies only an editorial one.
"""

from __future__ import annotations

import json
from typing import Any

from charter.domain.disclosure_rules import polygon
from charter.domain.model import Project

Path = tuple[str, ...]
ANY = "*"

# Corrections that do not change what the project does with data or who answers for it.
EDITORIAL: frozenset[Path] = frozenset(
    {
        ("name",),
        ("disclosure", "contact"),
        ("categories", ANY, "description"),
    }
)
# The lifecycle state is set by the register's steps, not by an amendment.
NOT_COMPARED: frozenset[Path] = frozenset({("status",)})
# Compared whole, in order: a polygon's rings are not a set.
ATOMIC: frozenset[Path] = frozenset({("disclosure", "area")})

_ABSENT = object()


def _matches(path: Path, patterns: frozenset[Path]) -> bool:
    return any(
        len(p) == len(path) and all(a in (ANY, b) for a, b in zip(p, path, strict=True))
        for p in patterns
    )


def is_editorial(path: Path) -> bool:
    return _matches(path, EDITORIAL) or _matches(path, NOT_COMPARED)


def leaves(project: Project) -> dict[Path, Any]:
    """Every value of the record by its path; categories keyed by name, lists as sets."""
    doc = project.model_dump(mode="json")
    doc["categories"] = {c["name"]: c for c in doc["categories"]}
    out: dict[Path, Any] = {}
    _flatten(doc, (), out)
    return out


def _flatten(value: Any, path: Path, out: dict[Path, Any]) -> None:
    if isinstance(value, dict) and not _matches(path, ATOMIC):
        for key, item in value.items():
            _flatten(item, (*path, str(key)), out)
        if not value:
            out[path] = {}
    elif isinstance(value, list) and not _matches(path, ATOMIC):
        # The order of tags, vendors or treatments carries no meaning; their membership does.
        out[path] = sorted({json.dumps(v, sort_keys=True) for v in value})
    else:
        out[path] = value


def changed_paths(old: Project, new: Project) -> list[Path]:
    """Every path whose value differs, editorial or not, in the order of the new record."""
    a, b = leaves(old), leaves(new)
    paths = list(dict.fromkeys([*b, *a]))
    return [p for p in paths if a.get(p, _ABSENT) != b.get(p, _ABSENT)]


def material_changes(old: Project, new: Project) -> list[str]:
    """What in `new` needs consultation and the council's decision, in words; [] if nothing."""
    before = {c.name for c in old.categories}
    after = {c.name for c in new.categories}
    out: list[str] = [f"new data category {n}" for n in sorted(after - before)]
    out += [f"data category {n} removed" for n in sorted(before - after)]
    out += [f"new vendor {v}" for v in new.vendor_ids if v not in old.vendor_ids]
    out += [f"vendor {v} removed" for v in old.vendor_ids if v not in new.vendor_ids]
    a, b = leaves(old), leaves(new)
    for path in changed_paths(old, new):
        if is_editorial(path):
            continue
        if path == ("vendor_ids",) or (path[0] == "categories" and path[1] not in before & after):
            continue  # said above, once per category or vendor
        was, now = a.get(path, _ABSENT), b.get(path, _ABSENT)
        out.append(_describe(path, was, now, old, new) + _delta(was, now))
    return list(dict.fromkeys(out))


def _delta(was: Any, now: Any) -> str:
    """For a set of tags: what it gains and what it loses."""
    if not (isinstance(was, list) and isinstance(now, list)):
        return ""
    added = [json.loads(v) for v in now if v not in was]
    removed = [json.loads(v) for v in was if v not in now]
    words = [f"adds {_short(v)}" for v in added] + [f"removes {_short(v)}" for v in removed]
    return f" ({'; '.join(words)})" if words else ""


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _describe(path: Path, was: Any, now: Any, old: Project, new: Project) -> str:
    if path == ("purpose",):
        return "the purpose changes"
    if path == ("disclosure", "area"):
        return _area(old, new)
    if path[0] == "categories" and len(path) >= 3:
        return _category(path[1], path[2:], was, now)
    return f"{_dotted(path)} changes"


def _category(name: str, rest: Path, was: Any, now: Any) -> str:
    if rest == ("retention_days",) and isinstance(was, int) and isinstance(now, int):
        return f"{'longer' if now > was else 'shorter'} retention of {name}"
    if rest == ("personal",):
        return f"{name} becomes personal" if now else f"{name} is no longer declared personal"
    if rest[0] == "fields" and len(rest) >= 2:
        if was is _ABSENT and now is not _ABSENT:
            return f"new field {rest[1]} in {name}"
        if now is _ABSENT:
            return f"field {rest[1]} removed from {name}"
        return f"field {rest[1]} of {name} changes"
    if rest[0] == "disclosure":
        return f"{'.'.join(rest[1:]) or 'disclosure'} of {name} changes"
    return f"{'.'.join(rest)} of {name} changes"


def _area(old: Project, new: Project) -> str:
    was = old.disclosure.area if old.disclosure else None
    now = new.disclosure.area if new.disclosure else None
    if now is None or was is None:
        return "the area is no longer given" if now is None else "a larger area"
    if not polygon(was).covers(polygon(now)):
        return "a larger area"
    return "a smaller area"


def _dotted(path: Path) -> str:
    return ".".join(path)
