"""NGSI-LD entity type expressions (clause 4.17): ``A,B`` / ``A|B``, ``A;B``, parentheses.

Parsed under the same bounds as ``q`` (:mod:`charter.ngsild.query`), matched against an
entity's types, or reduced to a plain set of types for a SQL ``IN``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from charter.ngsild.query import MAX_DEPTH, MAX_Q_LENGTH, MAX_TYPE_TERMS, _bad, _complex


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
