"""PostgreSQL: the store for a city that outgrows one process (psycopg 3).

Everything except the hot path is the shared SQL store. The gate's batch of
readings goes in with COPY, and readings are partitioned by day of observation
(range on observed_at, created on demand) so that retention drops whole
partitions instead of deleting rows one by one.

Several gate workers may write at once. A device's sequence number only moves
forward, and a worker whose view of it was stale (another worker committed the
same or a later envelope of that device first) gets `SequenceConflict`: its
transaction rolls back and it decides the batch again on fresh numbers. That is
what keeps a redelivered envelope from being stored twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DisconnectionError

from charter.store.base import PersonalRow, ReadingRow, SequenceConflict
from charter.store.migrate import upgrade
from charter.store.readings import READING_COLUMNS
from charter.store.sql import SqlStore, SqlTx

DAY_MS = 24 * 3600 * 1000
PARTITION_PREFIX = "readings_p"
COPY_READINGS = f"COPY readings ({', '.join(READING_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
COPY_PERSONAL_READINGS = (
    f"COPY readings ({', '.join(READING_COLUMNS)}, subject) FROM STDIN (FORMAT BINARY)"
)
# Binary COPY skips PostgreSQL's text parsing of every number (about 8 % faster).
COPY_TYPES = ["text", "text", "text", "int8", "int8", "int8", "text"]
ADVANCE_SEQS = (
    "UPDATE devices AS d SET last_seq = v.seq"
    " FROM unnest(%s::text[], %s::bigint[]) AS v(dev, seq)"
    " WHERE d.id = v.dev AND d.last_seq < v.seq RETURNING d.id"
)
ANY_DEVICE = "SELECT 1 FROM devices WHERE id = ANY(%s::text[]) LIMIT 1"
# Any 64-bit number, the same in every process: serialises partition creation.
_PARTITION_LOCK = 0x63686172746572
_LEDGER_LOCK = _PARTITION_LOCK + 2  # + 1 is the migrations' lock


# A pooled connection idle for longer than this is tested before use.
PING_AFTER_IDLE_S = 1.0


def ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Test a pooled connection before use, but only if it sat idle for a while.

    After a database restart the pool holds dead connections; testing each one
    before use (SQLAlchemy's `pool_pre_ping`) costs a round trip on every
    transaction, which for a gate worker committing small batches was a sixth
    of its time. A connection in steady use is not tested: if it died in
    between, the transaction fails, the pool is invalidated, and the batch is
    decided again (it was not acknowledged).
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_s:
            return
        try:
            with dbapi.cursor() as cur:
                cur.execute("SELECT 1")
        except Exception as e:  # any failure: the pool discards it and connects anew
            raise DisconnectionError("an idle pooled connection is gone") from e


def engine_url(url: str) -> str:
    """postgresql://… (or postgres://…) as SQLAlchemy's psycopg 3 URL."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def day_start(ms: int) -> int:
    return ms - ms % DAY_MS


def partition_name(start_ms: int) -> str:
    return PARTITION_PREFIX + datetime.fromtimestamp(start_ms / 1000, UTC).strftime("%Y%m%d")


def create_partitions(conn: Connection, days: set[int]) -> None:
    """Create the daily partitions that hold these day starts (ms), if missing."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PARTITION_LOCK})
    for start in sorted(days):
        # Names and bounds are computed integers and dates, never outside input.
        conn.exec_driver_sql(
            f"CREATE TABLE IF NOT EXISTS {partition_name(start)} PARTITION OF readings"
            f" FOR VALUES FROM ({start}) TO ({start + DAY_MS})"
        )


def existing_partitions(conn: Connection) -> dict[str, int]:
    """Partition name -> first millisecond it holds."""
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'readings'"
        )
    )
    out: dict[str, int] = {}
    for (name,) in rows:
        day = datetime.strptime(name[len(PARTITION_PREFIX) :], "%Y%m%d").replace(tzinfo=UTC)
        out[name] = int(day.timestamp() * 1000)
    return out


class PostgresTx(SqlTx):
    store: PostgresStore

    def lock_ledger(self) -> int:
        # One ledger writer at a time across every process, until this transaction ends.
        self.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LEDGER_LOCK})
        return super().lock_ledger()

    def insert_readings(self, rows: Sequence[ReadingRow]) -> None:
        if not rows:
            return
        self.store.ensure_partitions({day_start(r[3]) for r in rows})
        raw: Any = self.conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(COPY_READINGS) as copy:
            copy.set_types(COPY_TYPES)
            for row in rows:
                copy.write_row(row)

    def insert_personal_readings(self, rows: Sequence[PersonalRow]) -> None:
        """Personal readings: the same COPY with the resident's pseudonymous id."""
        if not rows:
            return
        self.store.ensure_partitions({day_start(r[3]) for r, _ in rows})
        raw: Any = self.conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(COPY_PERSONAL_READINGS) as copy:
            copy.set_types([*COPY_TYPES, "text"])
            for row, subject in rows:
                copy.write_row((*row, subject))

    def advance_device_seqs(self, seqs: dict[str, int]) -> None:
        if not seqs:
            return
        # One constant statement for the whole batch (arrays, not a VALUES list
        # that SQLAlchemy would compile anew for every batch size), prepared
        # once per connection. A device that did not move forward either is not
        # registered (nothing to do) or moved on in another writer.
        raw: Any = self.conn.connection.driver_connection
        devs, new = list(seqs), list(seqs.values())
        with raw.cursor() as cur:
            cur.execute(ADVANCE_SEQS, (devs, new), prepare=True)
            moved = {row[0] for row in cur.fetchall()}
            stuck = [dev for dev in devs if dev not in moved]
            if stuck:
                cur.execute(ANY_DEVICE, (stuck,), prepare=True)
                if cur.fetchone() is not None:
                    raise SequenceConflict("a device's sequence moved on in another writer")


class PostgresStore(SqlStore):
    tx_class = PostgresTx

    def __init__(self, url: str, *, pool_size: int = 4) -> None:
        engine = create_engine(engine_url(url), pool_size=pool_size)
        ping_when_idle(engine, PING_AFTER_IDLE_S)
        super().__init__(engine)
        self._partitions: set[int] = set()
        self._lock = threading.Lock()
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PARTITION_LOCK + 1})
            upgrade(conn)

    @contextmanager
    def transaction(self) -> Iterator[SqlTx]:
        with self.engine.begin() as conn:
            tx = PostgresTx(conn)
            tx.store = self
            yield tx
            tx.finish()

    def ensure_partitions(self, days: set[int]) -> None:
        """Create missing daily partitions in their own short transaction."""
        with self._lock:
            missing = days - self._partitions
        if not missing:
            return
        with self.engine.begin() as conn:
            create_partitions(conn, missing)
        with self._lock:
            self._partitions |= missing

    def partitions(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return existing_partitions(conn)

    def drop_readings_before(self, cutoff_ms: int) -> list[str]:
        """Retention: drop every daily partition that ends at or before the cutoff.

        Whole partitions only: a day that straddles the cutoff is kept until its
        last reading is due. Returns the names of the dropped partitions.
        """
        dropped: list[str] = []
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PARTITION_LOCK})
            for name, start in sorted(existing_partitions(conn).items()):
                if start + DAY_MS <= cutoff_ms:
                    conn.exec_driver_sql(f"DROP TABLE {name}")
                    dropped.append(name)
        with self._lock:
            self._partitions = {p for p in self._partitions if p + DAY_MS > cutoff_ms}
        return dropped
