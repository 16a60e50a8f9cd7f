"""The migrations build exactly the schema the code declares, and running them again is safe."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from charter.store import schema
from charter.store.migrate import MIGRATIONS, upgrade
from charter.store.sqlite import SqliteStore


def _declared(name: str | None, kind: str, _parents: object) -> bool:
    # PostgreSQL's daily partitions of readings are made by the store, not declared.
    return not (kind == "table" and name is not None and name.startswith("readings_p"))


def _diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_name": _declared})
        return list(compare_metadata(ctx, schema.metadata))


def _shape(engine: Engine) -> dict[str, object]:
    insp = inspect(engine)
    return {
        t: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(t)],
            sorted((i["name"], tuple(i["column_names"])) for i in insp.get_indexes(t)),
            insp.get_pk_constraint(t)["constrained_columns"],
        )
        for t in sorted(insp.get_table_names())
    }


def script_head() -> str:
    """The newest revision among the migration scripts: the one a database must end at."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def _head(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]


def test_upgrade_on_a_fresh_database_matches_the_declared_schema(engine: Engine) -> None:
    with engine.begin() as conn:
        upgrade(conn)
    assert _diff(engine) == []
    tables = set(inspect(engine).get_table_names())
    assert set(schema.metadata.tables) <= tables
    assert tables - set(schema.metadata.tables) == {"alembic_version"}
    assert _head(engine) == [script_head()]


def test_a_fresh_database_differs_from_the_schema_until_upgraded(engine: Engine) -> None:
    # The comparison is not vacuous: an empty database is reported as different.
    assert _diff(engine) != []


def test_a_second_upgrade_changes_nothing_and_keeps_the_data(engine: Engine) -> None:
    with engine.begin() as conn:
        upgrade(conn)
        if conn.dialect.name == "postgresql":
            from charter.store.postgres import create_partitions

            create_partitions(conn, {0})  # the store makes each day's partition before use
        conn.execute(
            schema.readings.insert().values(
                device_id="d",
                project_id="p",
                category="air.quality",
                observed_at=1,
                received_at=2,
                seq=3,
                body="{}",
            )
        )
    before = _shape(engine)
    with engine.begin() as conn:
        upgrade(conn)
    assert _shape(engine) == before
    assert _diff(engine) == []
    assert _head(engine) == [script_head()]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM readings")).scalar_one() == 1


def test_reopening_a_store_runs_the_migrations_again_without_harm(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    first = SqliteStore(path)
    with first.transaction() as tx:
        tx.insert_readings([("d", "p", "air.quality", 1, 2, 3, "{}")])
    first.close()
    second = SqliteStore(path)
    try:
        assert second.count_readings() == 1
        assert _diff(second.engine) == []
    finally:
        second.close()


def test_a_database_made_by_the_first_revision_upgrades_to_the_head(engine: Engine) -> None:
    """An installation from an earlier release keeps working after an upgrade."""
    from charter.store.migrations import frozen_0001

    with engine.begin() as conn:
        frozen_0001.metadata.create_all(conn)
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('0001')"))
        conn.execute(
            text("INSERT INTO tokens (digest, name, role, created_at) VALUES ('d', 'n', 'r', 1)")
        )
        conn.execute(
            text(
                "INSERT INTO readings (device_id, project_id, category, observed_at,"
                " received_at, seq, body) VALUES ('d', 'p', 'c', 1795000000000, 2, 3, '{}'),"
                " ('d', 'p', 'c', 1795100000000, 2, 4, '{}')"
            )
        )
    with engine.begin() as conn:
        upgrade(conn)
    assert _diff(engine) == []
    assert _head(engine) == [script_head()]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM tokens")).scalar_one() == "n"
        assert conn.execute(text("SELECT seq FROM readings ORDER BY id")).scalars().all() == [3, 4]
    # New readings get new ids after the ones carried over.
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO readings (device_id, project_id, category, observed_at,"
                " received_at, seq, body) VALUES ('d', 'p', 'c', 1795000000001, 2, 5, '{}')"
            )
        )
        assert conn.execute(text("SELECT max(id) FROM readings")).scalar_one() == 3


def test_decisions_made_before_0014_keep_a_strangers_claim_apart(engine: Engine) -> None:
    """A refusal before the signature was checked names its device only as a claim;
    a refusal of an authenticated envelope keeps its (device, seq), legacy digest."""
    from charter.store.migrations import frozen_0001

    with engine.begin() as conn:
        frozen_0001.metadata.create_all(conn)
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('0001')"))
        conn.execute(
            text(
                "INSERT INTO decisions (at, device_id, seq, stage, reason, count, outcome) VALUES"
                " (1, 'real', 5, 'authenticate', 'BAD_SIGNATURE', 1, 'dropped'),"
                " (2, 'real', 6, 'decode', 'INVALID_ENVELOPE', 1, 'dropped'),"
                " (3, 'real', 7, 'authorise', 'DEVICE_SUSPENDED', 1, 'quarantined')"
            )
        )
    with engine.begin() as conn:
        upgrade(conn)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT device_id, seq, claimed_device, digest FROM decisions ORDER BY at")
        ).all()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (None, None, "real"),
        (None, None, "real"),
        ("real", 7, None),
    ]
    assert [r[3] for r in rows][:2] == [None, None]
    assert bytes(rows[2][3]) == schema.LEGACY_DIGEST


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # partitioning is PostgreSQL's
def test_postgresql_readings_are_partitioned_by_observation_day(engine: Engine) -> None:
    with engine.begin() as conn:
        upgrade(conn)
    with engine.connect() as conn:
        kind = conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'readings'"))
        assert kind.scalar_one() == "p"
        pk = inspect(conn).get_pk_constraint("readings")["constrained_columns"]
        assert pk == ["id", "observed_at"]
