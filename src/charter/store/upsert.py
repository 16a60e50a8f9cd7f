"""An upsert: insert the row, or update the one with these keys, in one statement.

`INSERT … ON CONFLICT (keys) DO UPDATE` in both stores (SQLAlchemy's dialect
inserts). An update-then-insert is not atomic under PostgreSQL's READ COMMITTED:
two transactions that both find no row both insert, and the second fails on the
primary key. ON CONFLICT waits for the first and then updates its row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def dialect_insert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def upsert(conn: Connection, table: Table, keys: tuple[str, ...], values: dict[str, Any]) -> None:
    """`keys` must be the table's primary key or a unique index over exactly those columns."""
    stmt = dialect_insert(conn, table).values(**values)
    changes = {name: stmt.excluded[name] for name in values if name not in keys}
    if changes:
        conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=changes))
    else:
        conn.execute(stmt.on_conflict_do_nothing(index_elements=list(keys)))
