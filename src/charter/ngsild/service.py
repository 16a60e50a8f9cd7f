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
    bridge: Any = None  # ngsild.bridge.ReadingsBridge, when readings are published

    def close(self) -> None:
        if self.bridge is not None:
            self.bridge.close()

    @classmethod
    def build(cls, platform: Platform, rights: Rights | None = None) -> NgsiLd:
        s = platform.settings
        limits = ContextLimits(
            hosts=tuple(h.lower() for h in s.ngsild_context_hosts),
            timeout_s=s.ngsild_context_timeout_s,
            max_bytes=s.ngsild_context_max_bytes,
        )
        from charter.ngsild.bridge import ReadingsBridge
        from charter.ngsild.rights import CharterRights

        store: Any = platform.store
        repo = EntityRepository(store)
        charter_rights = rights or CharterRights(platform)
        n = cls(
            Contexts(limits),
            repo,
            EntityService(repo, platform.clock, charter_rights),
            s.ngsild_max_limit,
        )
        if isinstance(charter_rights, CharterRights) and s.ngsild_readings:
            n.bridge = ReadingsBridge(n, charter_rights)
            n.bridge.start()
        return n
