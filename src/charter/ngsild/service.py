"""The NGSI-LD interface's services, wired once from a Platform (`Platform.ngsild`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from charter.ngsild.context import ContextLimits, Contexts
from charter.ngsild.entities import EntityService, Rights
from charter.store.ngsild import EntityRepository

if TYPE_CHECKING:
    from charter.bootstrap import Platform


@dataclass
class NgsiLd:
    contexts: Contexts
    repo: EntityRepository
    entities: EntityService
    max_limit: int = 1000

    @classmethod
    def build(cls, platform: Platform, rights: Rights | None = None) -> NgsiLd:
        s = platform.settings
        limits = ContextLimits(
            hosts=tuple(h.lower() for h in s.ngsild_context_hosts),
            timeout_s=s.ngsild_context_timeout_s,
            max_bytes=s.ngsild_context_max_bytes,
        )
        store: Any = platform.store
        repo = EntityRepository(store)
        return cls(
            Contexts(limits),
            repo,
            EntityService(repo, platform.clock, rights),
            s.ngsild_max_limit,
        )
