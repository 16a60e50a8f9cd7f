"""Linked entity retrieval (clause 4.5.23): ``join=inline|flat``, ``joinLevel``, ``containedBy``.

The entities a retrieved or queried entity points at through its Relationships (and
ListRelationships) are looked up to ``joinLevel`` hops (default 1, at most MAX_LEVEL) and
shown with the answer: ``inline`` puts each linked entity under its Relationship
(``entity``; ``entityList`` for a ListRelationship; in ``keyValues`` the linked entity
stands where its id was), ``flat`` appends them to the array of entities. An entity
already met (one of the answer's own, one named in ``containedBy``, or one reached by a
shorter path) is not expanded again, so cycles end. Each linked entity is
read with the caller's rights (``check_read``, as a retrieval would be): one the caller may
not see is left out, its id stays in ``object``. Only this tenant's entities are followed;
personal data is never in these tables (it is read through ``Access.read``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from charter.domain.model import Actor
from charter.ngsild.context import Terms
from charter.ngsild.errors import bad_data
from charter.ngsild.model import LISTRELATIONSHIP, RELATIONSHIP, is_uri
from charter.ngsild.render import View, render
from charter.store.ngsild import StoredEntity

MAX_LEVEL = 5
MAX_LINKED = 1000  # linked entities one answer looks up


@dataclass(frozen=True)
class Join:
    mode: str  # "inline" | "flat"
    level: int
    contained_by: frozenset[str]

    @classmethod
    def parse(cls, join: str | None, level: str | None, contained_by: str | None) -> Join | None:
        if join is None:
            if level is not None:
                raise bad_data("joinLevel goes with join=inline or join=flat")
            return None
        if join not in ("inline", "flat", "@none"):
            raise bad_data("join is inline, flat or @none")
        if join == "@none":
            return None
        depth = 1
        if level is not None:
            if not level.isdigit() or not 1 <= int(level) <= MAX_LEVEL:
                raise bad_data(f"joinLevel is a whole number from 1 to {MAX_LEVEL}")
            depth = int(level)
        seen = frozenset(c.strip() for c in (contained_by or "").split(",") if c.strip())
        if len(seen) > MAX_LINKED or not all(is_uri(c) for c in seen):
            raise bad_data("containedBy is a list of entity ids")
        return cls(join, depth, seen)


def _targets(e: StoredEntity, view: View) -> Iterator[tuple[str, str, list[str]]]:
    """(expanded attribute, kind, the ids it points at) of each relationship the view shows."""
    for name, instances in e.attrs.items():
        if view.attrs is not None and name not in view.attrs:
            continue
        for inst in instances:
            kind = inst.get("type")
            if kind == RELATIONSHIP:
                obj = inst.get("object")
                ids = obj if isinstance(obj, list) else [obj]
            elif kind == LISTRELATIONSHIP:
                ids = [o.get("object") if isinstance(o, dict) else o for o in inst["objectList"]]
            else:
                continue
            yield name, kind, [i for i in ids if isinstance(i, str)]


def follow(
    service: Any, actor: Actor, tenant: str, roots: Sequence[StoredEntity], join: Join,
    view: View,
) -> dict[str, StoredEntity]:  # fmt: skip
    """The linked entities the caller may read, by id, in the order they were reached."""
    seen = set(join.contained_by) | {e.id for e in roots}
    found: dict[str, StoredEntity] = {}
    frontier = list(roots)
    hop_view = view  # the answer's own entities: the relationships it shows; then all
    for _ in range(join.level):
        wanted: list[str] = []
        for e in frontier:
            for _name, _kind, ids in _targets(e, hop_view):
                for i in ids:
                    if i not in seen and len(seen) < MAX_LINKED + len(roots):
                        seen.add(i)
                        wanted.append(i)
        if not wanted:
            break
        fetched = service.repo.get_many(tenant, wanted)
        frontier = []
        for i in wanted:
            e = fetched.get(i)
            shown = service.rights.check_read(actor, tenant, e) if e is not None else None
            if shown is not None:
                found[i] = shown
                frontier.append(shown)
        hop_view = View(view.format, view.sys_attrs, lang=view.lang)
    return found


def inline(
    e: StoredEntity, terms: Terms, view: View, linked: dict[str, StoredEntity], level: int,
    done: frozenset[str] = frozenset(),
) -> dict[str, Any]:  # fmt: skip
    """The entity rendered, each Relationship's linked entity under it (to ``level`` hops)."""
    out = render(e, terms, view)
    if level <= 0:
        return out
    inner = View(view.format, view.sys_attrs, lang=view.lang)
    below = done | {e.id}

    def shown(i: str) -> dict[str, Any] | None:
        target = linked.get(i)
        if target is None or i in below:
            return None
        return inline(target, terms, inner, linked, level - 1, below)

    for name, kind, _ids in _targets(e, view):
        short = terms.compact(name)
        rendered = out.get(short)
        if view.format == "keyValues":  # the linked entity stands in for its id
            out[short] = _key_values(rendered, shown)
            continue
        for item in rendered if isinstance(rendered, list) else [rendered]:
            if not isinstance(item, dict):
                continue
            if kind == RELATIONSHIP and isinstance(item.get("object"), str):
                entity = shown(item["object"])
                if entity is not None:
                    item["entity"] = entity
            elif kind == LISTRELATIONSHIP and isinstance(item.get("objectList"), list):
                ids = [o.get("object") if isinstance(o, dict) else o for o in item["objectList"]]
                entities = [x for i in ids if isinstance(i, str) and (x := shown(i)) is not None]
                if entities:
                    item["entityList"] = entities
    return out


def _key_values(value: Any, shown: Any) -> Any:
    """A relationship's key-value (an id, a list of ids or of {"object": id}), each id the
    caller may see replaced by its linked entity."""
    if isinstance(value, list):
        return [_key_values(v, shown) for v in value]
    target = value.get("object") if isinstance(value, dict) else value
    entity = shown(target) if isinstance(target, str) else None
    return entity if entity is not None else value


def answer(
    service: Any, actor: Actor, tenant: str, entities: Sequence[StoredEntity], terms: Terms,
    view: View, join: Join | None,
) -> list[dict[str, Any]]:  # fmt: skip
    """The rendered entities with their linked entities as ``join`` asks."""
    if join is None:
        return [render(e, terms, view) for e in entities]
    linked = follow(service, actor, tenant, entities, join, view)
    if join.mode == "inline":
        return [inline(e, terms, view, linked, join.level) for e in entities]
    plain = View(view.format, view.sys_attrs, lang=view.lang)
    return [render(e, terms, view) for e in entities] + [
        render(e, terms, plain) for e in linked.values()
    ]
