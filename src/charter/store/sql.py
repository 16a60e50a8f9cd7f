"""The SQL store both backends share: the schema through SQLAlchemy Core.

SQLite and PostgreSQL differ only in how they connect, how a writer begins its
transaction and how the gate's batch of readings goes in (the hot path); each
backend overrides just those.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.engine import Connection

from charter.store import schema as s
from charter.store.access import SqlAccessStore, SqlAccessTx
from charter.store.alerts import SqlAlertsStore, SqlAlertsTx
from charter.store.consultation import SqlConsultationStore, SqlConsultationTx
from charter.store.ledger import SqlLedgerStore, SqlLedgerTx
from charter.store.readings import SqlReadingsStore, SqlReadingsTx
from charter.store.registry import SqlRegistryStore, SqlRegistryTx
from charter.store.rights import SqlRightsStore, SqlRightsTx
from charter.store.security import SqlSecurityStore, SqlSecurityTx
from charter.store.services import SqlServicesStore, SqlServicesTx


class SqlTx(
    SqlRegistryTx,
    SqlReadingsTx,
    SqlLedgerTx,
    SqlSecurityTx,
    SqlConsultationTx,
    SqlRightsTx,
    SqlAccessTx,
    SqlServicesTx,
    SqlAlertsTx,
):
    """Writes through SQLAlchemy Core; backends override the hot paths."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.register_changed = False

    def finish(self) -> None:
        """Just before the commit: a transaction that changed the register bumps its version.

        Here rather than in each write, so that whoever writes the register (any
        service, any process) cannot forget it, and the version's row is locked
        only for the moment of the commit.
        """
        if self.register_changed:
            v = s.register_version
            res = self.conn.execute(update(v).where(v.c.id == 1).values(version=v.c.version + 1))
            if res.rowcount == 0:
                self.conn.execute(v.insert().values(id=1, version=1))


class SqlStore(
    SqlRegistryStore,
    SqlReadingsStore,
    SqlLedgerStore,
    SqlSecurityStore,
    SqlConsultationStore,
    SqlRightsStore,
    SqlAccessStore,
    SqlServicesStore,
    SqlAlertsStore,
):
    """Reads and transactions over one SQLAlchemy engine."""

    tx_class: type[SqlTx] = SqlTx

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[SqlTx]:
        with self.engine.begin() as conn:
            tx = self.tx_class(conn)
            yield tx
            tx.finish()

    def close(self) -> None:
        self.engine.dispose()

    def _rows(self, stmt: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(stmt))
