"""The NGSI-LD query language (GS CIM 009 v1.8, clause 4.9): values, syntax tree, parser.

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

Evaluation against an entity is :mod:`charter.ngsild.query_eval`; type expressions are
:mod:`charter.ngsild.type_expr`; the SQL prefilter is :mod:`charter.ngsild.query_sql`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
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


# --- value kinds (shared by the parser, the evaluator and the SQL prefilter) ------------


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


def _plain(value: Scalar) -> object:
    return value.uri if isinstance(value, URIValue) else value
