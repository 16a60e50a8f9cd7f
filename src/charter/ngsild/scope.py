"""The NGSI-LD scope query language (clause 4.19): ``scopeQ`` over entities' ``scope``.

A scope is a path of levels, ``/Madrid/Gardens/ParqueNorte``. A query names scopes, with
two wildcards as in MQTT topics: ``+`` stands for any one level (``/Madrid/+/ParqueNorte``)
and a final ``#`` for the scope itself and every scope below it (``/Madrid/#``; ``/#``:
any scope at all). ``;`` is AND, ``,`` is OR (AND binds tighter), parentheses group. An
entity matches a scope when one of its scopes does; an entity without a scope matches none.

    node = parse_scope_q("/Madrid/#;(/CompanyA,/CompanyB)")
    matches(node, ["/Madrid/Gardens", "/CompanyA"]) -> True
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

MAX_LENGTH = 2000  # characters of one scopeQ
MAX_TERMS = 100
MAX_DEPTH = 16  # nested parentheses
_LEVEL = re.compile(r"[\w\-]+|\+|#")


class ScopeQueryError(ValueError):
    """A scopeQ that is not in the grammar; the detail never repeats the caller's text."""


@dataclass(frozen=True, slots=True)
class ScopePattern:
    levels: tuple[str, ...]  # "+" for any one level
    descendants: bool  # a final "#": the scope itself and everything below it

    def matches(self, scope: str) -> bool:
        levels = scope.strip("/").split("/") if scope.strip("/") else []
        n = len(self.levels)
        if len(levels) < n or (not self.descendants and len(levels) != n):
            return False
        return all(p == "+" or p == level for p, level in zip(self.levels, levels, strict=False))


@dataclass(frozen=True, slots=True)
class ScopeAnd:
    items: tuple[ScopeNode, ...]


@dataclass(frozen=True, slots=True)
class ScopeOr:
    items: tuple[ScopeNode, ...]


ScopeNode = ScopePattern | ScopeAnd | ScopeOr


def _pattern(text: str) -> ScopePattern:
    if not text.startswith("/") or text.endswith("/"):
        raise ScopeQueryError("a scope in scopeQ looks like /a/b, /a/+ or /a/#")
    levels = text[1:].split("/")
    for i, level in enumerate(levels):
        if not _LEVEL.fullmatch(level) or (level == "#" and i != len(levels) - 1):
            raise ScopeQueryError("a scope level is a name, + or (last) #")
    descendants = levels[-1] == "#"
    return ScopePattern(tuple(levels[:-1] if descendants else levels), descendants)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.terms = 0

    def parse(self) -> ScopeNode:
        node = self._or(0)
        if self.pos != len(self.text):
            raise ScopeQueryError("scopeQ has an unexpected character or an unbalanced ')'")
        return node

    def _or(self, depth: int) -> ScopeNode:
        items = [self._and(depth)]
        while self._take(","):
            items.append(self._and(depth))
        return items[0] if len(items) == 1 else ScopeOr(tuple(items))

    def _and(self, depth: int) -> ScopeNode:
        items = [self._atom(depth)]
        while self._take(";"):
            items.append(self._atom(depth))
        return items[0] if len(items) == 1 else ScopeAnd(tuple(items))

    def _atom(self, depth: int) -> ScopeNode:
        if self._take("("):
            if depth >= MAX_DEPTH:
                raise ScopeQueryError("scopeQ nests too deeply")
            node = self._or(depth + 1)
            if not self._take(")"):
                raise ScopeQueryError("scopeQ has an unbalanced '('")
            return node
        end = self.pos
        while end < len(self.text) and self.text[end] not in ",;()":
            end += 1
        if end == self.pos:
            raise ScopeQueryError("scopeQ has an empty term")
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise ScopeQueryError(f"scopeQ has more than {MAX_TERMS} scopes")
        pattern = _pattern(self.text[self.pos : end])
        self.pos = end
        return pattern

    def _take(self, char: str) -> bool:
        if self.pos < len(self.text) and self.text[self.pos] == char:
            self.pos += 1
            return True
        return False


@lru_cache(maxsize=256)  # a subscription's scopeQ is read at every change it is checked for
def parse_scope_q(text: str) -> ScopeNode:
    if not isinstance(text, str) or not text or len(text) > MAX_LENGTH:
        raise ScopeQueryError(f"scopeQ is a non-empty text of at most {MAX_LENGTH} characters")
    return _Parser(text).parse()


def matches(node: ScopeNode, scopes: Iterable[str] | None) -> bool:
    """Whether an entity with these scopes (None: no scope) is selected."""
    own = list(scopes or ())
    if isinstance(node, ScopePattern):
        return any(node.matches(s) for s in own)
    if isinstance(node, ScopeAnd):
        return all(matches(item, own) for item in node.items)
    return any(matches(item, own) for item in node.items)
