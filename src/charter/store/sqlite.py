"""The embedded default: one SQLite file in WAL mode.

Reads use pooled connections (WAL lets them run beside the writer); writes are
serialised by a lock because SQLite has one writer. The gate's batch insert goes
straight to the driver's executemany: it is the hot path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.pool import QueuePool

from charter.store.base import PersonalRow, ReadingRow
from charter.store.migrate import upgrade
from charter.store.sql import SqlStore, SqlTx

_WRITER = "charter.writer"
INSERT_READINGS = (
    "INSERT INTO readings (device_id, project_id, category, observed_at, received_at, seq, body)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


INSERT_PERSONAL_READINGS = (
    "INSERT INTO readings (device_id, project_id, category, observed_at, received_at, seq, body,"
    " subject) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class SqliteTx(SqlTx):
    def insert_readings(self, rows: Sequence[ReadingRow]) -> None:
        if rows:
            self.conn.exec_driver_sql(INSERT_READINGS, list(rows))

    def insert_personal_readings(self, rows: Sequence[PersonalRow]) -> None:
        if rows:
            self.conn.exec_driver_sql(INSERT_PERSONAL_READINGS, [(*r, s) for r, s in rows])

    def advance_device_seqs(self, seqs: dict[str, int]) -> None:
        if seqs:
            self.conn.exec_driver_sql(
                "UPDATE devices SET last_seq = ? WHERE id = ? AND last_seq < ?",
                [(seq, dev, seq) for dev, seq in seqs.items()],
            )


class SqliteStore(SqlStore):
    tx_class = SqliteTx

    def __init__(self, path: Path | str, *, synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"unknown SQLite synchronous mode {synchronous!r}")
        self._sync = synchronous.upper()
        self._write_lock = threading.Lock()
        super().__init__(
            create_engine(
                f"sqlite:///{self.path}",
                poolclass=QueuePool,
                pool_size=4,
                connect_args={"check_same_thread": False, "timeout": 30},
            )
        )
        event.listen(self.engine, "connect", self._on_connect)
        event.listen(self.engine, "begin", self._on_begin)
        with self._write_lock, self.engine.begin() as conn:
            upgrade(conn)

    def _on_connect(self, dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a crash of the process (what the crash test
        # proves); FULL also survives losing power, at the cost of an fsync per commit.
        cur.execute(f"PRAGMA synchronous={self._sync}")
        cur.execute("PRAGMA foreign_keys=ON")
        # A 64 MiB page cache keeps the reading indexes' hot pages in memory.
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    def _on_begin(self, conn: Connection) -> None:
        # Writers take the write lock up front (no upgrade deadlocks); readers
        # begin deferred, so in WAL mode they never wait for a writer.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get(_WRITER) else "BEGIN")

    @contextmanager
    def transaction(self) -> Iterator[SqlTx]:
        with self._write_lock, self.engine.connect() as conn:
            conn.info[_WRITER] = True
            try:
                with conn.begin():
                    tx = self.tx_class(conn)
                    yield tx
                    tx.finish()
            finally:
                conn.info.pop(_WRITER, None)
