"""The storage floor beside `charter bench ngsi-ld`'s batch-upsert figure.

After the run, the rows the server wrote for the batch-upserted entities (their entity,
type, queryable value and attribute-instance rows) are read back and inserted again into a
fresh store of the same kind, with the same statements through the same driver call, one
transaction per batch of entities as the upserts had. No HTTP, no JSON-LD, no checks: what
the storage alone needs for those rows, so the upsert rate is also a share of it. On a
shared machine both figures move together; the share holds.
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter.bootstrap import open_store
from charter.settings import Settings
from charter.store import ngsild as repo
from charter.store.sql import SqlStore

TYPE_COLUMNS = ("tenant", "type", "entity_id")
# Each table the NGSI-LD repository writes, the column naming the entity, the statement.
TABLES: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    (repo.E.name, repo.ENTITY_COLUMNS, "id", repo.INSERT_ENTITIES),
    (repo.T.name, TYPE_COLUMNS, "entity_id", repo.INSERT_TYPES),
    (repo.V.name, repo.VALUE_COLUMNS, "entity_id", repo.INSERT_VALUES),
    (repo.I.name, repo.INSTANCE_COLUMNS, "entity_id", repo.INSERT_INSTANCES),
)


def _sql(store: object) -> SqlStore:
    assert isinstance(store, SqlStore), "the NGSI-LD repository runs on the SQL stores"
    return store


def _rows(store: SqlStore, lo: str, hi: str) -> dict[str, dict[str, list[tuple[Any, ...]]]]:
    """table -> entity id -> its rows, for the default tenant's ids in [lo, hi)."""
    out: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
    mark = "?" if store.engine.dialect.paramstyle == "qmark" else "%s"
    with store.engine.connect() as conn:
        for table, columns, key, _sql in TABLES:
            by_entity: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
            col = columns.index(key)
            sql = (
                f"SELECT {', '.join(columns)} FROM {table}"  # noqa: S608 (names from the schema)
                f" WHERE tenant = '' AND {key} >= {mark} AND {key} < {mark}"
            )
            for r in conn.exec_driver_sql(sql, (lo, hi)):
                by_entity[r[col]].append(tuple(r))
            out[table] = by_entity
    return out


@contextmanager
def _fresh_store(like: str | None) -> Iterator[SqlStore]:
    """An empty store of the run's kind, with the schema the migrations make."""
    from charter.bootstrap import build

    with tempfile.TemporaryDirectory() as tmp:
        if like is None or like.startswith("sqlite"):
            platform = build(Settings(data_dir=Path(tmp)))
            try:
                yield _sql(platform.store)
            finally:
                platform.close()
            return
        from charter.bench.scale import fresh_database

        with fresh_database(like) as url:
            platform = build(Settings(data_dir=Path(tmp), database_url=url))
            try:
                yield _sql(platform.store)
            finally:
                platform.close()


@dataclass
class Floor:
    per_s: float  # entities/s, their rows alone
    entities: int
    rows: dict[str, int]  # table -> rows inserted


def storage_floor(data_dir: Path, store_url: str | None, lo: str, hi: str, batch: int) -> Floor:
    """Insert the rows of the default tenant's entities with ids in [lo, hi), read from the
    run's store, into a fresh one, `batch` entities a transaction; time only the inserts."""
    source = _sql(open_store(Settings(data_dir=data_dir, database_url=store_url)))
    try:
        rows = _rows(source, lo, hi)
    finally:
        source.close()
    ids = sorted(rows[repo.E.name])
    counts = {table: sum(map(len, rows[table].values())) for table, *_ in TABLES}
    if not ids:
        return Floor(0.0, 0, counts)
    with _fresh_store(store_url) as fresh:
        start = time.perf_counter()
        for first in range(0, len(ids), batch):
            chunk = ids[first : first + batch]
            with fresh.transaction() as tx:
                for table, _columns, _key, sql in TABLES:
                    by_entity = rows[table]
                    repo.driver_many(tx.conn, sql, [r for i in chunk for r in by_entity.get(i, ())])
        seconds = time.perf_counter() - start
    return Floor(len(ids) / seconds, len(ids), counts)
