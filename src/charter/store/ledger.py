"""The ledger's rows (a part of the SQL store): entries, Merkle nodes, checkpoints."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.engine import Connection

from charter.store import schema as s
from charter.store.base import (
    LedgerEntry,
    StoredCheckpoint,
)


def _ledger_size(conn: Connection) -> int:
    # The next index, not count(*): an index look-up on both backends.
    return (
        int(conn.execute(select(func.coalesce(func.max(s.ledger_entries.c.idx), -1))).scalar_one())
        + 1
    )


class SqlLedgerTx:
    """Appends to the ledger and its checkpoints."""

    # Mixed into SqlTx, which provides the connection.
    conn: Connection
    register_changed: bool

    def append_ledger(self, entry: LedgerEntry, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        self.conn.execute(
            s.ledger_entries.insert().values(
                idx=entry.idx, at=entry.at, kind=entry.kind, data=entry.data
            )
        )
        self.conn.execute(
            s.ledger_nodes.insert(), [{"level": lv, "idx": i, "hash": h} for lv, i, h in nodes]
        )

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        self.conn.execute(
            s.ledger_checkpoints.insert().values(
                size=checkpoint.size, at=checkpoint.at, root=checkpoint.root, note=checkpoint.note
            )
        )

    def lock_ledger(self) -> int:
        # SQLite: the writer's BEGIN IMMEDIATE already excludes every other writer.
        return _ledger_size(self.conn)

    def set_checkpoint_note(self, size: int, note: str) -> None:
        c = s.ledger_checkpoints
        self.conn.execute(update(c).where(c.c.size == size).values(note=note))


class SqlLedgerStore:
    """Reads of the ledger."""

    # Mixed into SqlStore, which provides the engine and the reader.
    engine: Engine
    _rows: Callable[[Any], list[Any]]

    def ledger_size(self) -> int:
        with self.engine.connect() as conn:
            return _ledger_size(conn)

    def ledger_node(self, level: int, idx: int) -> bytes:
        n = s.ledger_nodes
        rows = self._rows(select(n.c.hash).where(n.c.level == level, n.c.idx == idx))
        if not rows:
            raise KeyError(f"ledger node ({level}, {idx}) is missing")
        return bytes(rows[0][0])

    def ledger_entries(self, start: int, end: int) -> list[LedgerEntry]:
        e = s.ledger_entries
        stmt = select(e).where(e.c.idx >= start, e.c.idx < end).order_by(e.c.idx)
        return [LedgerEntry(r.idx, r.at, r.kind, bytes(r.data)) for r in self._rows(stmt)]

    def iter_ledger_entries(self) -> Iterator[LedgerEntry]:
        # Keyset pages: a hole in the indexes must not end the walk early.
        e, after = s.ledger_entries, -1
        while True:
            stmt = select(e).where(e.c.idx > after).order_by(e.c.idx).limit(1000)
            page = [LedgerEntry(r.idx, r.at, r.kind, bytes(r.data)) for r in self._rows(stmt)]
            if not page:
                return
            yield from page
            after = page[-1].idx

    def ledger_checkpoints(self) -> list[StoredCheckpoint]:
        c = s.ledger_checkpoints
        rows = self._rows(select(c).order_by(c.c.size))
        return [StoredCheckpoint(r.size, r.at, bytes(r.root), r.note) for r in rows]

    def ledger_checkpoint(self, size: int) -> StoredCheckpoint | None:
        c = s.ledger_checkpoints
        rows = self._rows(select(c).where(c.c.size == size))
        return (
            StoredCheckpoint(size, rows[0].at, bytes(rows[0].root), rows[0].note) if rows else None
        )

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        c = s.ledger_checkpoints
        rows = self._rows(select(c).order_by(c.c.size.desc()).limit(1))
        return (
            StoredCheckpoint(rows[0].size, rows[0].at, bytes(rows[0].root), rows[0].note)
            if rows
            else None
        )
