"""Which NGSI-LD entity types are which projects' data categories (from the register).

A project's category declares its NGSI-LD type (`DataCategory.ngsi`, e.g.
AirQualityObserved). Types are matched by their local name (the last segment
of the expanded IRI), so a client cannot slip past the rule by mapping the
same name to another IRI in its own @context. The view is rebuilt when the
register's version moves (any process's change), like the gate's directory.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from charter.domain.model import DataCategory, ProjectStatus

SDM_CONTEXT = "https://smartdatamodels.org/context.jsonld"


@dataclass(frozen=True)
class Declared:
    project_id: str
    live: bool
    category: DataCategory

    @property
    def type(self) -> str:
        assert self.category.ngsi is not None
        return self.category.ngsi.type

    def attribute(self, field: str) -> str:
        assert self.category.ngsi is not None
        return self.category.ngsi.attributes.get(field, field)


@functools.lru_cache(maxsize=4096)
def local_name(iri: str) -> str:
    return re.split(r"[/#:]", iri)[-1]


class TypeRegister:
    def __init__(self, store: Any) -> None:
        self.store = store
        self._version: int | None = None
        self._by_type: dict[str, list[Declared]] = {}
        self._lock = threading.Lock()
        self._pinned = threading.local()  # this thread's view, while a batch runs

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """Within: one read of the register version for the whole block (a batch of
        entities sees one register, read once, not once per entity)."""
        if getattr(self._pinned, "by_type", None) is not None:
            yield
            return
        self._pinned.by_type = self._load()
        try:
            yield
        finally:
            self._pinned.by_type = None

    def _load(self) -> dict[str, list[Declared]]:
        pinned: dict[str, list[Declared]] | None = getattr(self._pinned, "by_type", None)
        if pinned is not None:
            return pinned
        version = self.store.read_register_version()
        with self._lock:
            if version == self._version:
                return self._by_type
        by_type: dict[str, list[Declared]] = {}
        for project in self.store.list_projects():
            live = project.status is ProjectStatus.LIVE
            for c in project.categories:
                if c.ngsi is not None:
                    by_type.setdefault(c.ngsi.type, []).append(Declared(project.id, live, c))
        with self._lock:
            self._version, self._by_type = version, by_type
        return by_type

    def declared(self, types: list[str]) -> list[Declared]:
        """The categories (of any project) whose NGSI-LD type is one of `types` (IRIs)."""
        by_type = self._load()
        out: list[Declared] = []
        for t in types:
            out.extend(by_type.get(local_name(t), ()))
        return out

    def category(self, project_id: str, category: str) -> Declared | None:
        for found in self._load().values():
            for d in found:
                if d.project_id == project_id and d.category.name == category:
                    return d
        return None
