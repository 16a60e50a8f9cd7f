"""Entity queries with the NGSI-LD query language, type expressions and geo-queries.

The database does what SQL can (tenant, types - type expressions compile to exact EXISTS
clauses -, ids, idPattern, and the superset prefilter compiled from ``q``); Python then
evaluates ``q`` and the geo-query exactly on each candidate, walking the candidates in id
order page by page (keyset: ``id > last``), so ``limit`` matches cost about
``limit / selectivity`` rows, not the table.  ``count=true`` walks all candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, or_

from charter.domain.model import Actor
from charter.ngsild import query as ql
from charter.ngsild import query_eval as qe
from charter.ngsild import scope as sq
from charter.ngsild import type_expr as te
from charter.ngsild.context import Terms
from charter.ngsild.errors import ErrorType, NgsiError, bad_data
from charter.ngsild.geo import GeoQuery, parse_geoquery
from charter.store import schema as s
from charter.store.ngsild import StoredEntity

E = s.ngsild_entities
T = s.ngsild_entity_types
V = s.ngsild_attr_values
PAGE = 500


def query_error(exc: ql.QueryError) -> NgsiError:
    kind = (
        ErrorType.TOO_COMPLEX_QUERY
        if exc.problem == "TooComplexQuery"
        else ErrorType.BAD_REQUEST_DATA
    )
    return NgsiError(kind, exc.detail)


def _expander(terms: Terms) -> Callable[[str], str]:
    def resolve(term: str) -> str:
        if term in ql.METADATA:
            return term
        return terms.expand(term) or term

    return resolve


@dataclass
class Filter:
    """What a query asks beyond the foundation's plain filters."""

    q: ql.Node | None
    geo: GeoQuery | None
    type_expr: te.TypeNode | None  # expanded; None: plain types (or none)
    resolve: Callable[[str], str]
    scope: sq.ScopeNode | None = None  # scopeQ, evaluated on each candidate

    @property
    def exact_in_sql(self) -> bool:
        return self.q is None and self.geo is None and self.scope is None

    def sql(self, dialect: str) -> Any | None:
        clauses = []
        if self.type_expr is not None:
            clauses.append(_type_sql(self.type_expr))
        if self.q is not None:
            where = indexed_sql(self.q, dialect, self.resolve)
            if where is not None:
                clauses.append(where)
        if not clauses:
            return None
        return and_(*clauses) if len(clauses) > 1 else clauses[0]

    def exact(self, entity: StoredEntity) -> bool:
        view: dict[str, Any] = dict(entity.attrs)
        view["id"] = entity.id
        view["type"] = entity.types
        if self.q is not None and not qe.evaluate(self.q, view, self.resolve):
            return False
        if self.scope is not None and not sq.matches(self.scope, entity.scope):
            return False
        return self.geo is None or self.geo.matches(view)


# q as SQL over `ngsild_attr_values` (one row per attribute of each entity; see
# charter.store.ngsild.value_rows): a *superset* condition, never dropping an entity the
# query matches (the exact evaluation in Python then decides), answered by index probes
# instead of parsing each entity's JSON. A term on an attribute whose value is not simple
# (several instances, a list, a Relationship, ...) admits the entity; terms SQL cannot
# decide (sub-attributes, compound paths, id/type) give no condition.
def indexed_sql(node: ql.Node, dialect: str, resolve: Callable[[str], str]) -> Any | None:
    """A condition on `ngsild_entities` admitting at least every match of ``node``."""
    if isinstance(node, ql.Term):
        return _indexed_term(node, dialect, resolve)
    parts = [indexed_sql(item, dialect, resolve) for item in node.items]
    if isinstance(node, ql.And):
        kept = [p for p in parts if p is not None]
        return and_(*kept) if kept else None
    if any(p is None for p in parts):
        return None
    return or_(*[p for p in parts if p is not None])


def _has(iri: str, cond: Any = None) -> Any:
    clauses = [V.c.tenant == E.c.tenant, V.c.entity_id == E.c.id, V.c.attr == iri]
    if cond is not None:
        clauses.append(cond)
    return exists().where(and_(*clauses))


def _compare(column: Any, op: str, values: list[Any], ranged: bool) -> Any:
    if ranged:
        return column.between(values[0], values[1])
    if len(values) > 1:
        return column.in_(values)
    ops = {"==": column.__eq__, ">": column.__gt__, ">=": column.__ge__,
           "<": column.__lt__, "<=": column.__le__}  # fmt: skip
    return ops[op](values[0])


def _indexed_term(term: ql.Term, dialect: str, resolve: Callable[[str], str]) -> Any | None:
    path = term.path
    if path.sub or path.compound or path.attr in ("id", "type"):
        return None
    iri = resolve(path.attr)
    if term.op is None or term.op in ("!=", "!~="):
        return _has(iri)  # whatever else, the attribute must be there
    if term.op == "~=":  # a pattern matches strings only
        return _has(iri, or_(V.c.simple == 0, V.c.text.is_not(None)))
    ranged = isinstance(term.value, ql.Range)
    if isinstance(term.value, ql.ValueList):
        values: list[Any] = list(term.value.items)
    elif isinstance(term.value, ql.Range):
        values = [term.value.low, term.value.high]
    else:
        values = [term.value]
    kinds = {ql._kind(v) for v in values}
    if len(kinds) != 1:
        return _has(iri)
    kind = kinds.pop()
    if kind == "number":
        if any(isinstance(v, int) and abs(v) > 2**53 for v in values):
            return _has(iri)  # not exact as a float
        cond = _compare(V.c.num, term.op, [float(v) for v in values], ranged)
        return _has(iri, or_(V.c.simple == 0, cond))
    if kind in ("string", "uri"):
        plain = [ql._plain(v) for v in values]
        if (ranged or term.op not in ("==",)) and dialect != "sqlite":
            return _has(iri)  # the database's collation may order strings otherwise
        return _has(iri, or_(V.c.simple == 0, _compare(V.c.text, term.op, plain, ranged)))
    if kind == "bool":  # a simple value is a number or a string: never a boolean
        return _has(iri, V.c.simple == 0)
    return _has(iri)


def _type_sql(node: te.TypeNode) -> Any:
    if isinstance(node, te.TypeName):
        return exists().where(
            and_(T.c.tenant == E.c.tenant, T.c.entity_id == E.c.id, T.c.type == node.name)
        )
    simple = te.simple_types(node)
    if simple is not None:
        return exists().where(
            and_(T.c.tenant == E.c.tenant, T.c.entity_id == E.c.id, T.c.type.in_(sorted(simple)))
        )
    parts = [_type_sql(item) for item in node.items]
    return and_(*parts) if isinstance(node, te.TypeAnd) else or_(*parts)


def parse_filter(
    terms: Terms,
    params: Mapping[str, Any],
) -> tuple[Filter | None, list[str] | None]:
    """From request parameters (q, scopeQ, type, georel, geometry, coordinates, geoproperty):
    the filter (None when none is asked) and the plain expanded type list (or None)."""
    resolve = _expander(terms)
    raw_type = params.get("type")
    plain: list[str] | None = None
    type_expr: te.TypeNode | None = None
    try:
        if raw_type and str(raw_type).strip() != "*":  # "*": every type (4.17)
            node = te.map_types(te.parse_type_expression(str(raw_type)), resolve)
            simple = te.simple_types(node)
            if simple is not None:
                plain = sorted(simple)
            else:
                type_expr = node
        q = ql.parse_q(str(params["q"])) if params.get("q") else None
        geo = parse_geoquery(
            params.get("georel"),
            params.get("geometry"),
            params.get("coordinates"),
            params.get("geoproperty"),
        )
        scope = sq.parse_scope_q(str(params["scopeQ"])) if "scopeQ" in params else None
    except ql.QueryError as exc:
        raise query_error(exc) from None
    except sq.ScopeQueryError as exc:
        raise bad_data(str(exc)) from None
    if geo is not None:
        geo.geoproperty = resolve(geo.geoproperty)
    if q is None and geo is None and type_expr is None and scope is None:
        return None, plain
    return Filter(q, geo, type_expr, resolve, scope), plain


def search(
    service: Any,
    actor: Actor,
    tenant: str,
    filt: Filter | None,
    *,
    types: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    id_pattern: str | None = None,
    where: Any = None,
    limit: int = 20,
    offset: int = 0,
    count: bool = False,
) -> tuple[list[StoredEntity], int | None]:
    """Entities matching every filter, readable by ``actor``, in id order; the total if asked."""
    repo = service.repo
    dialect = (
        repo.engine.dialect.name if hasattr(repo, "engine") else repo.store.engine.dialect.name
    )
    extra = filt.sql(dialect) if filt is not None else None
    combined = _and(where, extra)
    if filt is None or filt.exact_in_sql:
        found: list[StoredEntity]
        found, total = service.query(
            actor, tenant, types=types, ids=ids, id_pattern=id_pattern, where=combined,
            limit=limit, offset=offset, count=count,
        )  # fmt: skip
        return found, total
    service.check_tenant(tenant)
    wanted = offset + limit
    matched: list[StoredEntity] = []
    total = 0
    last: str | None = None
    # The SQL prefilter is often exact: ask first for little more than is wanted, then more.
    size = PAGE if count else min(PAGE, wanted + 20)
    while True:
        page_where = combined if last is None else _and(combined, E.c.id > last)
        rows: list[StoredEntity] = repo.query(
            tenant, types=types, ids=ids, id_pattern=id_pattern, where=page_where,
            limit=size, offset=0,
        )  # fmt: skip
        for entity in rows:
            if not filt.exact(entity):
                continue
            total += 1
            if len(matched) < wanted:
                matched.append(entity)
        if len(rows) < size or (not count and len(matched) >= wanted):
            break
        last = rows[-1].id
        size = min(PAGE * 4, size * 2)
    page = matched[offset:wanted]
    shown = [e for x in page if (e := service.rights.check_read(actor, tenant, x)) is not None]
    return shown, (total if count else None)


def _and(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return and_(a, b)


def query_body(body: Any, terms: Terms) -> dict[str, Any]:
    """POST /entityOperations/query: the Query data type (clause 5.2.23) as parameters."""
    if not isinstance(body, Mapping) or body.get("type") != "Query":
        raise bad_data('the body is a Query: {"type": "Query", ...}')
    params: dict[str, Any] = {}
    selectors = body.get("entities")
    if selectors is not None:
        if not isinstance(selectors, list) or not selectors or len(selectors) > 100:
            raise bad_data("entities is a non-empty list of selectors")
        kinds, ids, patterns = [], [], []
        for sel in selectors:
            if not isinstance(sel, Mapping) or not isinstance(sel.get("type"), str):
                raise bad_data("each entity selector has a type")
            kinds.append(sel["type"])
            if "id" in sel:
                ids.append(str(sel["id"]))
            if "idPattern" in sel:
                patterns.append(str(sel["idPattern"]))
        if len(set(kinds)) > 1 and any(c in k for k in kinds for c in ";|(),"):
            raise bad_data("several selectors with type expressions are not supported")
        params["type"] = ",".join(dict.fromkeys(kinds))
        if ids:
            params["id"] = ",".join(ids)
        if len(patterns) > 1:
            raise bad_data("at most one idPattern")
        if patterns:
            params["idPattern"] = patterns[0]
    attrs = body.get("attrs")
    if attrs is not None:
        if not isinstance(attrs, list) or not all(isinstance(a, str) for a in attrs):
            raise bad_data("attrs is a list of attribute names")
        params["attrs"] = ",".join(attrs)
    for key in ("q", "scopeQ"):
        if key in body:
            if not isinstance(body[key], str):
                raise bad_data(f"{key} is a string")
            params[key] = body[key]
    geo_q = body.get("geoQ")
    if geo_q is not None:
        if not isinstance(geo_q, Mapping):
            raise bad_data("geoQ is an object")
        for key in ("georel", "geometry", "coordinates", "geoproperty"):
            if key in geo_q:
                params[key] = geo_q[key]
    if "temporalQ" in body:
        raise NgsiError(ErrorType.OPERATION_NOT_SUPPORTED, "temporalQ: use /temporal/entities")
    return params
