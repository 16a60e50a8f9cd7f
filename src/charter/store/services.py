"""The algorithm register and the services' reported states (a part of the store)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection

from charter.domain.algorithm import AlgorithmEntry
from charter.store import schema as s
from charter.store.upsert import upsert


@dataclass(frozen=True, slots=True)
class ServiceState:
    service: str
    state: str  # running | disabled | waiting (project not live) | stopped
    detail: dict[str, Any]
    updated_at: int


class ServicesTx(Protocol):
    def put_algorithm(self, entry: AlgorithmEntry, at: int) -> None: ...


class ServicesStore(Protocol):
    def get_algorithm(self, service: str) -> AlgorithmEntry | None: ...
    def list_algorithms(self) -> list[AlgorithmEntry]: ...
    def put_service_state(self, state: ServiceState) -> None: ...
    def list_service_states(self) -> list[ServiceState]: ...
    def ledger_head(self) -> int: ...


class SqlServicesTx:
    conn: Connection
    register_changed: bool

    def put_algorithm(self, entry: AlgorithmEntry, at: int) -> None:
        # A service host decides who runs at the register's version (services/host.py).
        self.register_changed = True
        row = {
            "service": entry.service,
            "project_id": entry.project_id,
            "doc": entry.model_dump_json(),
            "updated_at": at,
        }
        upsert(self.conn, s.algorithms, ("service",), row)


class SqlServicesStore:
    # Mixed into SqlStore, which provides the engine and the reader.
    engine: Engine
    _rows: Callable[[Any], list[Any]]

    def get_algorithm(self, service: str) -> AlgorithmEntry | None:
        stmt = select(s.algorithms.c.doc).where(s.algorithms.c.service == service)
        rows = self._rows(stmt)
        return AlgorithmEntry.model_validate_json(rows[0][0]) if rows else None

    def list_algorithms(self) -> list[AlgorithmEntry]:
        rows = self._rows(select(s.algorithms.c.doc).order_by(s.algorithms.c.service))
        return [AlgorithmEntry.model_validate_json(r[0]) for r in rows]

    def put_service_state(self, state: ServiceState) -> None:
        row = {
            "service": state.service,
            "state": state.state,
            "detail": json.dumps(state.detail, sort_keys=True),
            "updated_at": state.updated_at,
        }
        with self.engine.begin() as conn:
            upsert(conn, s.service_reports, ("service",), row)

    def list_service_states(self) -> list[ServiceState]:
        t = s.service_reports
        rows = self._rows(select(t.c.service, t.c.state, t.c.detail, t.c.updated_at))
        return [ServiceState(r[0], r[1], json.loads(r[2]), r[3]) for r in rows]

    def ledger_head(self) -> int:
        """The newest ledger entry's index: every change of the register is on the ledger."""
        t = s.ledger_entries
        head = self._rows(select(func.max(t.c.idx)))[0][0]
        return -1 if head is None else int(head)
