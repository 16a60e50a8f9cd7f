"""Putting a city service on the public algorithm register (and on the record)."""

from __future__ import annotations

import hashlib

from charter.domain.algorithm import AlgorithmEntry
from charter.domain.errors import CharterError, NotFound
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.ledger.log import Ledger
from charter.store.base import Store


class AlgorithmRegister:
    def __init__(self, store: Store, ledger: Ledger) -> None:
        self.store, self.ledger = store, ledger

    def register(self, entry: AlgorithmEntry, actor: Actor, why: str) -> AlgorithmEntry:
        """Publish or update a service's entry; it may use only what its project declared."""
        project = self.store.get_project(entry.project_id)
        if project is None:
            raise NotFound(f"project {entry.project_id}")
        declared = {c.name for c in project.categories}
        undeclared = sorted(set(entry.data_used) - declared)
        if undeclared:
            raise CharterError(
                Reason.SERVICE_DATA_UNDECLARED,
                f"the project does not declare {', '.join(undeclared)}",
            )
        doc = entry.model_dump_json().encode()
        with self.ledger.write() as w:
            w.tx.put_algorithm(entry, w.now_ms)
            w.record(
                "algorithm.registered",
                actor,
                service=entry.service,
                project=entry.project_id,
                entry_sha256=hashlib.sha256(doc).hexdigest(),
                why=why,
            )
        return entry

    def list(self) -> list[AlgorithmEntry]:
        return self.store.list_algorithms()

    def get(self, service: str) -> AlgorithmEntry:
        entry = self.store.get_algorithm(service)
        if entry is None:
            raise NotFound(f"service {service}")
        return entry
