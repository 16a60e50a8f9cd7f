"""A portable upsert: update the row with these keys, insert it if nothing was there."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Connection


def upsert(conn: Connection, table: Any, keys: tuple[str, ...], values: dict[str, Any]) -> None:
    # Runs inside the caller's write transaction, so update-then-insert is atomic.
    match = [table.c[k] == values[k] for k in keys]
    res = conn.execute(update(table).where(*match).values(**values))
    if res.rowcount == 0:
        conn.execute(table.insert().values(**values))
