"""0019: the history rows that duplicate a current instance go; the temporal answers stay."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text

from charter.domain.clock import iso
from charter.store import schema
from charter.store.migrate import MIGRATIONS, upgrade
from charter.store.ngsild import EntityRepository

T = "https://uri.etsi.org/ngsi-ld/default-context/temperature"
H = "https://uri.etsi.org/ngsi-ld/default-context/humidity"
P = "https://uri.etsi.org/ngsi-ld/default-context/pressure"
T0 = 1_795_000_000_000


def _to(conn: Connection, revision: str, down: bool = False) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    (command.downgrade if down else command.upgrade)(cfg, revision)


def inst(iid: str, at: int, value: Any, **more: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, "createdAt": iso(T0), "modifiedAt": iso(at),
            "instanceId": iid, **more}  # fmt: skip


def _entity(conn: Connection, tenant: str, eid: str, attrs: dict[str, Any]) -> None:
    doc = json.dumps({"type": ["https://example.org/Room"], "attrs": attrs})
    conn.execute(
        schema.ngsild_entities.insert().values(
            tenant=tenant, id=eid, type="https://example.org/Room", doc=doc,
            created_at=T0, modified_at=T0 + 2000, expires_at=None,
        )
    )  # fmt: skip


def _row(conn: Connection, tenant: str, eid: str, attr: str, value: dict[str, Any],
         at: int, deleted: int = 0, observed: int | None = None) -> None:  # fmt: skip
    conn.execute(
        schema.ngsild_attr_instances.insert().values(
            tenant=tenant, entity_id=eid, attr=attr, dataset_id="",
            instance_id=value["instanceId"], observed_at=observed, recorded_at=at,
            value=json.dumps(value), deleted=deleted, expires_at=None,
        )
    )  # fmt: skip


def _answer(engine: Engine, tenant: str, eid: str) -> list[tuple[Any, ...]]:
    rows = EntityRepository(SimpleNamespace(engine=engine)).instances(tenant, eid)  # type: ignore[arg-type]
    return [(r.attr, r.instance_id, r.recorded_at, r.observed_at, r.value, r.deleted) for r in rows]


def _old_answer(conn: Connection, tenant: str, eid: str) -> list[tuple[Any, ...]]:
    """What the code before 0019 answered: the history's rows alone."""
    rows = conn.execute(
        text(
            "SELECT attr, instance_id, recorded_at, observed_at, value, deleted"
            " FROM ngsild_attr_instances WHERE tenant = :t AND entity_id = :e"
            " ORDER BY recorded_at, id"
        ),
        {"t": tenant, "e": eid},
    )
    return [(r[0], r[1], r[2], r[3], json.loads(r[4]), bool(r[5])) for r in rows]


def test_0019_keeps_every_temporal_answer_and_drops_the_duplicates(engine: Engine) -> None:
    observed = T0 + 1500
    t1 = inst("urn:x:t1", T0, 20)
    t2 = inst("urn:x:t2", T0 + 2000, 21, observedAt=iso(observed))
    h1 = inst("urn:x:h1", T0 + 1000, 50)
    p1 = inst("urn:x:p1", T0 + 1000, 1013)  # the temporal API's create kept its own rows
    with engine.begin() as conn:
        _to(conn, "0018_door_counts")
        _entity(conn, "", "urn:ngsi-ld:Room:1", {T: [t2], H: [h1], P: [p1]})
        _row(conn, "", "urn:ngsi-ld:Room:1", T, t1, T0)  # superseded
        _row(conn, "", "urn:ngsi-ld:Room:1", T, t2, T0 + 2000, observed=observed)  # current
        _row(conn, "", "urn:ngsi-ld:Room:1", H, {**h1, "value": 55}, T0 + 1000)  # edited
        _row(conn, "", "urn:ngsi-ld:Room:1", P, inst("urn:x:p0", T0 + 1000, 1012), T0 + 1000)
        gone = {**inst("urn:x:q1", T0, 3), "deletedAt": iso(T0 + 1000)}
        _row(conn, "", "urn:ngsi-ld:Room:1", P + "x", gone, T0 + 1000, deleted=1)
        # more entities than a chunk, in two tenants, each with its current instance twice
        for n in range(520):
            one = inst(f"urn:x:n{n}", T0 + n, n)
            tenant = "a" if n % 2 else ""
            _entity(conn, tenant, f"urn:ngsi-ld:Room:n{n:04d}", {T: [one]})
            _row(conn, tenant, f"urn:ngsi-ld:Room:n{n:04d}", T, one, T0 + n)
        before = _old_answer(conn, "", "urn:ngsi-ld:Room:1")
        before_n = [_old_answer(conn, "a", "urn:ngsi-ld:Room:n0519")]
        rows_before = conn.execute(text("SELECT count(*) FROM ngsild_attr_instances")).scalar()
    assert rows_before == 5 + 520

    with engine.begin() as conn:
        upgrade(conn)
    assert _answer(engine, "", "urn:ngsi-ld:Room:1") == before
    assert [_answer(engine, "a", "urn:ngsi-ld:Room:n0519")] == before_n
    with engine.connect() as conn:
        kept = conn.execute(
            text("SELECT instance_id, deleted FROM ngsild_attr_instances ORDER BY instance_id")
        ).all()
    # t2 and the 520 duplicates gone; the edited h1 kept; p1 hidden; the marker kept
    assert [tuple(r) for r in kept] == [
        ("urn:x:h1", 0), ("urn:x:p0", 0), ("urn:x:p1", 2), ("urn:x:q1", 1), ("urn:x:t1", 0),
    ]  # fmt: skip

    with engine.begin() as conn:  # and back: the rows as they were (t2 and n* written again)
        _to(conn, "0018_door_counts", down=True)
        assert _old_answer(conn, "", "urn:ngsi-ld:Room:1") == before
        assert [_old_answer(conn, "a", "urn:ngsi-ld:Room:n0519")] == before_n
        assert conn.execute(text("SELECT count(*) FROM ngsild_attr_instances")).scalar() == 525
