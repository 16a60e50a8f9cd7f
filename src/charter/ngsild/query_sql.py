"""The SQL prefilter of an NGSI-LD ``q``: a parsed query as a superset SQL condition.

A query compiles to a SQL condition on the stored entity document (``doc``: JSON text
``{"type": [...], "attrs": {iri: [instance, ...]}}``) that is a *superset* filter: it
never drops an entity the query matches, so the exact evaluation in Python after it
(:mod:`charter.ngsild.query_eval`) gives the right answer while the database skips most
non-matching rows.  Terms it cannot express (patterns, !=, dates, sub-attributes, compound
paths) compile to "no condition".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from charter.ngsild.query import And, Node, Range, Scalar, Term, ValueList, _kind, _plain


def _json_path_ok(iri: str) -> bool:
    return '"' not in iri and "\\" not in iri and len(iri) < 512


def compile_sql(
    node: Node, doc: Any, dialect: str, resolve: Callable[[str], str] = str
) -> Any | None:
    """A SQLAlchemy condition admitting at least every match of ``node``; None: no filter."""
    if isinstance(node, Term):
        return _sql_term(node, doc, dialect, resolve)
    parts = [compile_sql(item, doc, dialect, resolve) for item in node.items]
    from sqlalchemy import and_, or_

    if isinstance(node, And):
        kept = [p for p in parts if p is not None]
        return and_(*kept) if kept else None
    if any(p is None for p in parts):
        return None
    return or_(*[p for p in parts if p is not None])


def _sql_term(term: Term, doc: Any, dialect: str, resolve: Callable[[str], str]) -> Any | None:
    from sqlalchemy import Float, and_, case, cast, func, literal, or_

    path = term.path
    if path.sub or path.compound or path.attr in ("id", "type"):
        return None
    iri = resolve(path.attr)
    if not _json_path_ok(iri):
        return None
    if dialect == "sqlite":
        attr_path = f'$.attrs."{iri}"'
        value_path = attr_path + "[0].value"

        def kind() -> Any:
            return func.json_type(doc, value_path)

        def value() -> Any:
            return func.json_extract(doc, value_path)

        def several() -> Any:
            return func.json_array_length(doc, attr_path) > 1

        def exists() -> Any:
            return func.json_type(doc, attr_path).is_not(None)

        number_kinds: tuple[str, ...] = ("integer", "real")
        text_kind, array_kind = "text", "array"
        not_plain = or_(
            func.json_type(doc, attr_path + "[0].object").is_not(None),
            func.json_type(doc, attr_path + "[0].languageMap").is_not(None),
        )
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        body = cast(doc, JSONB)

        def kind() -> Any:
            return func.jsonb_typeof(func.jsonb_extract_path(body, "attrs", iri, "0", "value"))

        def value() -> Any:
            return func.jsonb_extract_path_text(body, "attrs", iri, "0", "value")

        def several() -> Any:
            arr = func.jsonb_extract_path(body, "attrs", iri)
            return and_(func.jsonb_typeof(arr) == "array", func.jsonb_array_length(arr) > 1)

        def exists() -> Any:
            return func.jsonb_extract_path(body, "attrs", iri).is_not(None)

        number_kinds = ("number",)
        text_kind, array_kind = "string", "array"
        not_plain = or_(
            func.jsonb_extract_path(body, "attrs", iri, "0", "object").is_not(None),
            func.jsonb_extract_path(body, "attrs", iri, "0", "languageMap").is_not(None),
        )
    else:
        return None
    if term.op is None:
        return exists()
    if term.op in ("!=", "~=", "!~="):
        return exists()  # whatever else, the attribute must be there
    values: list[Scalar]
    ranged = False
    if isinstance(term.value, ValueList):
        values = list(term.value.items)
    elif isinstance(term.value, Range):
        values, ranged = [term.value.low, term.value.high], True
    else:
        values = [term.value]  # type: ignore[list-item]
    kinds = {_kind(v) for v in values}
    if len(kinds) != 1:
        return exists()
    which = kinds.pop()
    loose = or_(kind() == array_kind, several())
    if which == "number":
        typed = kind().in_(number_kinds)
        raw = value()
        num = case((typed, cast(raw, Float)), else_=None) if dialect == "postgresql" else raw
        cond = _sql_compare(num, term.op, [float(v) for v in values], ranged)  # type: ignore[arg-type]
        return or_(and_(typed, cond), loose)
    if which in ("string", "uri"):
        plain = [_plain(v) for v in values]
        typed = kind() == text_kind
        cond = _sql_compare(value(), term.op, plain, ranged)
        return or_(and_(typed, cond), loose, not_plain)
    if which == "bool" and term.op == "==" and dialect == "sqlite":
        want = values[0]
        return or_(kind() == ("true" if want else "false"), loose)
    if which == "bool" and term.op == "==":
        return or_(
            and_(kind() == "boolean", value() == literal("true" if values[0] else "false")),
            loose,
        )
    return exists()


def _sql_compare(column: Any, op: str, values: Sequence[Any], ranged: bool) -> Any:
    if ranged:
        return column.between(values[0], values[1])
    if len(values) > 1:
        return column.in_(list(values))
    value = values[0]
    if op == "==":
        return column == value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op == "<":
        return column < value
    return column <= value
