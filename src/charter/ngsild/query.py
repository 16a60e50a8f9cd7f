"""The NGSI-LD query language (ETSI GS CIM 009 v1.8, clause 4.9) and type expressions.

A hand-written recursive-descent parser, bounded in length, nesting depth, number of terms
and value-list size, so a pathological ``q`` costs a bounded amount of time and memory and
gets the spec's error instead.  Grammar (whitespace between tokens is tolerated)::

    Query     = Or
    Or        = And *("|" And)
    And       = Primary *(";" Primary)
    Primary   = "(" Or ")" / Term
    Term      = Attribute [Op Value]          ; bare Attribute = existence
    Op        = "==" / "!=" / ">=" / ">" / "<=" / "<" / "~=" / "!~="
    Attribute = Name *("." Name) *("[" Name *("." Name) "]")
    Value     = Single ".." Single / Single *("," Single)
    Single    = quoted string / number / true / false / dateTime / date / time / URI

``a.b`` names the sub-attribute ``b`` of attribute ``a`` (``a.observedAt``, ``a.unitCode``,
... name its metadata); ``a[b.c]`` (or ``a[b][c]``) a member inside a compound value.  Patterns
are RE2 expressions (linear time, no catastrophic backtracking).

The evaluator works on a *normalized* entity in its compacted form (``{"id", "type",
attr: {"type": "Property", "value": ...}}``, an attribute with several ``datasetId``
instances as a list); a ``resolve`` callback maps the query's terms to the entity's keys
when they differ (for example expanded IRIs).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Literal

import re2  # type: ignore[import-untyped]

MAX_Q_LENGTH = 4096
MAX_DEPTH = 16
MAX_TERMS = 128
MAX_LIST = 100
MAX_PATTERN = 512
MAX_TYPE_TERMS = 64

Problem = Literal["BadRequestData", "InvalidRequest", "TooComplexQuery"]


class QueryError(ValueError):
    """A query that cannot be run: the NGSI-LD problem type, a Charter reason and a detail.

    The detail never echoes the query's values (they may be personal); only positions.
    """

    def __init__(self, problem: Problem, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.problem: Problem = problem
        self.reason = reason
        self.detail = detail

    @property
    def status(self) -> int:
        return 403 if self.problem == "TooComplexQuery" else 400


def _bad(detail: str, reason: str = "ngsild_bad_query") -> QueryError:
    return QueryError("BadRequestData", reason, detail)


def _complex(detail: str) -> QueryError:
    return QueryError("TooComplexQuery", "ngsild_query_too_complex", detail)


# --- values -------------------------------------------------------------------------------


@dataclass(frozen=True)
class URIValue:
    """An unquoted URI in a query (compared with a Relationship's object, or a string)."""

    uri: str


Scalar = bool | int | float | str | datetime | date | time | URIValue


@dataclass(frozen=True)
class Range:
    low: Scalar
    high: Scalar


@dataclass(frozen=True)
class ValueList:
    items: tuple[Scalar, ...]


QValue = Scalar | Range | ValueList

METADATA = frozenset(
    {"observedAt", "createdAt", "modifiedAt", "deletedAt", "unitCode", "datasetId", "lang"}
)


@dataclass(frozen=True)
class AttrPath:
    """``attr.sub.sub[compound.path]``: an attribute, sub-attributes, then a compound path."""

    attr: str
    sub: tuple[str, ...] = ()
    compound: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = ".".join((self.attr, *self.sub))
        if self.compound:
            text += "[" + ".".join(self.compound) + "]"
        return text


@dataclass(frozen=True)
class Term:
    path: AttrPath
    op: str | None = None  # None: existence
    value: QValue | str | None = None  # str for patterns


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


Node = Term | And | Or

_OPS = ("!~=", "==", "!=", ">=", "<=", "~=", ">", "<")
_NAME_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:/#@-$%*+!'&"
)
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?Z?")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s\"<>\\^`{}]+")


def parse_datetime(text: str) -> datetime:
    """ISO 8601 date-time; a missing zone is UTC (the spec's times are UTC)."""
    raw = text[:-1] + "+00:00" if text.endswith("Z") else text
    if "." in raw:  # Python accepts at most 6 fractional digits
        head, _, tail = raw.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        frac, zone = tail[:digits], tail[digits:]
        raw = f"{head}.{(frac + '000000')[:6]}{zone}"
    parsed = datetime.fromisoformat(raw)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _scalar(text: str, pos: int) -> Scalar:
    if text.startswith('"'):
        if len(text) < 2 or not text.endswith('"'):
            raise _bad(f"unterminated string at position {pos}")
        return _unquote(text[1:-1])
    if text == "true":
        return True
    if text == "false":
        return False
    if _NUMBER.fullmatch(text):
        number = float(text)
        if not math.isfinite(number):
            raise _bad(f"number out of range at position {pos}")
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        return number
    try:
        if _DATETIME.fullmatch(text):
            return parse_datetime(text)
        if _DATE.fullmatch(text):
            return date.fromisoformat(text)
        if _TIME.fullmatch(text):
            return time.fromisoformat(text.rstrip("Z"))
    except ValueError as exc:
        raise _bad(f"invalid date or time at position {pos}") from exc
    if _URI.fullmatch(text):
        return URIValue(text)
    raise _bad(f"invalid value at position {pos}")


def _unquote(body: str) -> str:
    out: list[str] = []
    escaped = False
    for char in body:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            out.append(char)
    return "".join(out)


# --- parser -------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.terms = 0

    def error(self, what: str) -> QueryError:
        return _bad(f"{what} at position {self.pos}")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def parse(self) -> Node:
        if not self.text.strip():
            raise _bad("empty query")
        node = self.parse_or(0)
        if self.peek():
            raise self.error("unexpected character")
        return node

    def parse_or(self, depth: int) -> Node:
        items = [self.parse_and(depth)]
        while self.peek() == "|":
            self.pos += 1
            if self.text.startswith("|", self.pos):  # tolerate "||"
                self.pos += 1
            items.append(self.parse_and(depth))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self, depth: int) -> Node:
        items = [self.parse_primary(depth)]
        while self.peek() == ";":
            self.pos += 1
            items.append(self.parse_primary(depth))
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_primary(self, depth: int) -> Node:
        if self.peek() == "(":
            if depth + 1 > MAX_DEPTH:
                raise _complex(f"query nested deeper than {MAX_DEPTH} levels")
            self.pos += 1
            node = self.parse_or(depth + 1)
            if self.peek() != ")":
                raise self.error("missing ')'")
            self.pos += 1
            return node
        return self.parse_term()

    def parse_term(self) -> Term:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise _complex(f"query has more than {MAX_TERMS} terms")
        path = self.parse_attribute()
        self.skip()
        for op in _OPS:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                break
        else:
            return Term(path)
        self.skip()
        start = self.pos
        raw = self.read_value(pattern=op in ("~=", "!~="))
        if not raw:
            raise self.error("missing value")
        if op in ("~=", "!~="):
            return Term(path, op, _pattern(raw, start))
        value = self.value(raw, start)
        if isinstance(value, (Range, ValueList)) and op not in ("==", "!="):
            raise _bad(f"a range or list only goes with == or != (position {start})")
        if isinstance(value, bool) and op not in ("==", "!="):
            raise _bad(f"true/false only go with == or != (position {start})")
        return Term(path, op, value)

    def name(self) -> str:
        self.skip()
        start = self.pos
        text = self.text
        # A full IRI as attribute name may contain dots: take it whole up to an operator.
        if re.match(r"[A-Za-z][A-Za-z0-9+\-]*://", text[start:]):
            while self.pos < len(text) and text[self.pos] not in "=!<>~;|()[] ":
                self.pos += 1
        else:
            while self.pos < len(text) and text[self.pos] in _NAME_CHARS:
                if text[self.pos] == "!" and text.startswith(("!=", "!~="), self.pos):
                    break
                self.pos += 1
        if self.pos == start:
            raise self.error("attribute name expected")
        return text[start : self.pos]

    def parse_attribute(self) -> AttrPath:
        names = [self.name()]
        while self.text.startswith(".", self.pos):
            self.pos += 1
            names.append(self.name())
        compound: list[str] = []
        while self.text.startswith("[", self.pos):
            self.pos += 1
            compound.append(self.name())
            while self.text.startswith(".", self.pos):
                self.pos += 1
                compound.append(self.name())
            if not self.text.startswith("]", self.pos):
                raise self.error("missing ']'")
            self.pos += 1
        if len(names) + len(compound) > MAX_DEPTH:
            raise _complex("attribute path too long")
        return AttrPath(names[0], tuple(names[1:]), tuple(compound))

    def read_value(self, pattern: bool) -> str:
        """The raw value text: up to ';', '|' or an unbalanced ')' outside quotes."""
        text = self.text
        start = self.pos
        depth = 0
        in_quotes = False
        while self.pos < len(text):
            char = text[self.pos]
            if in_quotes:
                if char == "\\":
                    self.pos += 1
                elif char == '"':
                    in_quotes = False
            elif char == '"':
                in_quotes = True
            elif char in ";|" and (depth == 0 or not pattern):
                break
            elif char == "(" and pattern:
                depth += 1
            elif char == ")":
                if depth == 0:
                    break
                depth -= 1
            self.pos += 1
        if in_quotes:
            raise _bad(f"unterminated string at position {start}")
        return text[start : self.pos].rstrip(" \t")

    def value(self, raw: str, start: int) -> QValue:
        parts = _split_outside_quotes(raw, ",")
        if len(parts) > MAX_LIST:
            raise _complex(f"value list longer than {MAX_LIST}")
        if len(parts) > 1:
            return ValueList(tuple(_scalar(p.strip(), start) for p in parts))
        bounds = _split_outside_quotes(raw, "..")
        if len(bounds) == 2:
            low, high = (_scalar(b.strip(), start) for b in bounds)
            if _kind(low) != _kind(high) or isinstance(low, (bool, URIValue)):
                raise _bad(f"range bounds of different or unordered types (position {start})")
            return Range(low, high)
        if len(bounds) > 2:
            raise _bad(f"invalid range at position {start}")
        return _scalar(raw.strip(), start)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    in_quotes = False
    current = 0
    i = 0
    while i < len(text):
        char = text[i]
        if in_quotes:
            if char == "\\":
                i += 1
            elif char == '"':
                in_quotes = False
        elif char == '"':
            in_quotes = True
        elif text.startswith(sep, i):
            parts.append(text[current:i])
            i += len(sep)
            current = i
            continue
        i += 1
    parts.append(text[current:])
    return parts


def _pattern(raw: str, start: int) -> str:
    body = _unquote(raw[1:-1]) if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
    if len(body) > MAX_PATTERN:
        raise _complex(f"pattern longer than {MAX_PATTERN} characters")
    try:
        _compile_pattern(body)
    except Exception as exc:  # re2.error and friends
        raise _bad(f"invalid pattern at position {start}") from exc
    return body


_PATTERN_CACHE: dict[str, Any] = {}


def _compile_pattern(body: str) -> Any:
    compiled = _PATTERN_CACHE.get(body)
    if compiled is None:
        options = re2.Options()
        options.max_mem = 8 << 20
        options.log_errors = False
        compiled = re2.compile(body, options)
        if len(_PATTERN_CACHE) > 1024:
            _PATTERN_CACHE.clear()
        _PATTERN_CACHE[body] = compiled
    return compiled


def parse_q(text: str) -> Node:
    """Parse a ``q`` string; :class:`QueryError` (400/403) when malformed or too complex."""
    if len(text) > MAX_Q_LENGTH:
        raise _complex(f"query longer than {MAX_Q_LENGTH} characters")
    return _Parser(text).parse()


def attributes_of(node: Node) -> Iterator[AttrPath]:
    """Every attribute path a query mentions (for watchedAttributes and access checks)."""
    if isinstance(node, Term):
        yield node.path
    else:
        for item in node.items:
            yield from attributes_of(item)


# --- evaluation ---------------------------------------------------------------------------


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, time):
        return "time"
    if isinstance(value, URIValue):
        return "uri"
    if isinstance(value, str):
        return "string"
    return "other"


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


def _plain(value: Scalar) -> object:
    return value.uri if isinstance(value, URIValue) else value


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


# --- type expressions (clause 4.17) ---------------------------------------------------------


@dataclass(frozen=True)
class TypeName:
    name: str


@dataclass(frozen=True)
class TypeAnd:
    items: tuple[TypeNode, ...]


@dataclass(frozen=True)
class TypeOr:
    items: tuple[TypeNode, ...]


TypeNode = TypeName | TypeAnd | TypeOr


class _TypeParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.count = 0

    def peek(self) -> str:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def parse(self) -> TypeNode:
        node = self.parse_or(0)
        if self.peek():
            raise _bad(f"unexpected character in type expression at position {self.pos}")
        return node

    def parse_or(self, depth: int) -> TypeNode:
        items = [self.parse_and(depth)]
        while self.peek() in ("|", ","):
            self.pos += 1
            items.append(self.parse_and(depth))
        return items[0] if len(items) == 1 else TypeOr(tuple(items))

    def parse_and(self, depth: int) -> TypeNode:
        items = [self.parse_primary(depth)]
        while self.peek() == ";":
            self.pos += 1
            items.append(self.parse_primary(depth))
        return items[0] if len(items) == 1 else TypeAnd(tuple(items))

    def parse_primary(self, depth: int) -> TypeNode:
        if self.peek() == "(":
            if depth + 1 > MAX_DEPTH:
                raise _complex(f"type expression nested deeper than {MAX_DEPTH} levels")
            self.pos += 1
            node = self.parse_or(depth + 1)
            if self.peek() != ")":
                raise _bad(f"missing ')' in type expression at position {self.pos}")
            self.pos += 1
            return node
        self.count += 1
        if self.count > MAX_TYPE_TERMS:
            raise _complex(f"type expression has more than {MAX_TYPE_TERMS} types")
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ",;|() ":
            self.pos += 1
        if self.pos == start:
            raise _bad(f"type name expected at position {start}")
        return TypeName(self.text[start : self.pos])


def parse_type_expression(text: str) -> TypeNode:
    """``A,B`` / ``A|B`` (either), ``A;B`` (both), parentheses."""
    if len(text) > MAX_Q_LENGTH:
        raise _complex(f"type expression longer than {MAX_Q_LENGTH} characters")
    if not text.strip():
        raise _bad("empty type expression")
    return _TypeParser(text).parse()


def type_names(node: TypeNode) -> set[str]:
    if isinstance(node, TypeName):
        return {node.name}
    return set().union(*(type_names(item) for item in node.items))


def simple_types(node: TypeNode) -> set[str] | None:
    """The set of types when the expression is a plain disjunction (SQL ``IN``), else None."""
    if isinstance(node, TypeName):
        return {node.name}
    if isinstance(node, TypeOr) and all(isinstance(i, TypeName) for i in node.items):
        return type_names(node)
    return None


def map_types(node: TypeNode, fn: Callable[[str], str]) -> TypeNode:
    """The same expression with every type name mapped (for example expanded)."""
    if isinstance(node, TypeName):
        return TypeName(fn(node.name))
    items = tuple(map_types(item, fn) for item in node.items)
    return TypeAnd(items) if isinstance(node, TypeAnd) else TypeOr(items)


def types_match(node: TypeNode, types: Iterable[str]) -> bool:
    have = set(types)
    if isinstance(node, TypeName):
        return node.name in have
    if isinstance(node, TypeAnd):
        return all(types_match(item, have) for item in node.items)
    return any(types_match(item, have) for item in node.items)


def entity_types(entity: Mapping[str, Any]) -> list[str]:
    raw = entity.get("type", entity.get("@type"))
    if isinstance(raw, list):
        return [str(t) for t in raw]
    return [] if raw is None else [str(raw)]


# --- SQL prefilter -------------------------------------------------------------------------
#
# A query compiles to a SQL condition on the stored entity document (``doc``: JSON text
# ``{"type": [...], "attrs": {iri: [instance, ...]}}``) that is a *superset* filter: it
# never drops an entity the query matches, so the exact evaluation in Python after it gives
# the right answer while the database skips most non-matching rows.  Terms it cannot
# express (patterns, !=, dates, sub-attributes, compound paths) compile to "no condition".


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
