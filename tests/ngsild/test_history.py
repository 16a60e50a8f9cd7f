"""Where the temporal history lives: current instances in the entity's document only,
the instances it no longer holds in `ngsild_attr_instances`; the answers see both."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from charter.bootstrap import Platform
from charter.domain.clock import FixedClock, to_ms
from charter.ngsild.batch import BatchMode, Fragment, batch_write
from charter.ngsild.rights import GATE
from charter.store import schema as s
from charter.store.ngsild import StoredEntity, purge_expired
from tests.ngsild.conftest import Ngsi, thing

EID = "urn:ngsi-ld:Thing:1"
V = "https://uri.etsi.org/ngsi-ld/default-context/"
SPEED = V + "speed"


def _count(p: Platform, table: Any, entity_id: str = EID) -> int:
    key = table.c.id if table is s.ngsild_entities else table.c.entity_id
    with p.store.engine.connect() as conn:  # type: ignore[attr-defined]
        return int(
            conn.execute(
                select(func.count()).select_from(table).where(key == entity_id)
            ).scalar_one()
        )


def _history(p: Platform, entity_id: str = EID) -> list[Any]:
    t = s.ngsild_attr_instances
    with p.store.engine.connect() as conn:  # type: ignore[attr-defined]
        return list(conn.execute(select(t).where(t.c.entity_id == entity_id).order_by(t.c.id)))


def _entity(p: Platform, entity_id: str = EID) -> StoredEntity | None:
    return p.ngsild.repo.get("", entity_id)


class Ever:
    """Every instance the entity held after each step: the temporal history must hold each
    once, with the value it had and the time it was recorded (its modifiedAt)."""

    def __init__(self, p: Platform, entity_id: str = EID) -> None:
        self.p, self.entity_id = p, entity_id
        self.seen: dict[str, tuple[str, dict[str, Any]]] = {}

    def note(self) -> None:
        e = _entity(self.p, self.entity_id)
        for attr, instances in (e.attrs if e else {}).items():
            for inst in instances:
                self.seen.setdefault(inst["instanceId"], (attr, inst))

    def check(self) -> None:
        rows = self.p.ngsild.repo.instances("", self.entity_id)
        shown = {r.instance_id: (r.attr, r.value) for r in rows if not r.deleted}
        assert len(shown) == len([r for r in rows if not r.deleted])  # each once
        assert shown == self.seen
        from charter.store.ngsild_history import recorded_ms

        for r in rows:
            if not r.deleted:
                assert r.recorded_at == recorded_ms(r.value)
        times = [r.recorded_at for r in rows]
        assert times == sorted(times)


def test_a_fresh_entity_writes_no_history_row(any_ngsi: Ngsi) -> None:
    p = any_ngsi.platform
    assert any_ngsi.create(thing(1)).status_code == 201
    assert [
        _count(p, t)
        for t in (
            s.ngsild_entities,
            s.ngsild_entity_types,
            s.ngsild_attr_values,
            s.ngsild_attr_instances,
        )
    ] == [1, 1, 3, 0]
    # and yet the temporal representation has its three instances
    doc = any_ngsi.call("GET", f"/temporal/entities/{EID}").json()
    assert {k: len(v) for k, v in doc.items() if k not in ("id", "type")} == {
        "speed": 1,
        "location": 1,
        "near": 1,
    }


def test_an_update_writes_exactly_the_instance_it_supersedes(
    any_ngsi: Ngsi, clock: FixedClock
) -> None:
    p = any_ngsi.platform
    any_ngsi.create(thing(1))
    old = _entity(p)
    assert old is not None
    clock.advance(timedelta(seconds=5))
    r = any_ngsi.call("PATCH", f"/entities/{EID}/attrs/speed", {"type": "Property", "value": 7})
    assert r.status_code == 204, r.text
    (row,) = _history(p)
    speed = old.attrs[SPEED][0]
    assert (row.attr, row.instance_id, row.deleted) == (SPEED, speed["instanceId"], 0)
    assert row.recorded_at == old.modified_at  # when it became current, not now
    assert row.observed_at == to_ms(clock.now()) - 5000 - 3600_000  # 11:00Z, as written
    values = any_ngsi.call("GET", f"/temporal/entities/{EID}?attrs=speed").json()["speed"]
    assert [i["value"] for i in values] == [5, 7]


def test_every_write_path_keeps_every_instance_once(any_ngsi: Ngsi, clock: FixedClock) -> None:
    p = any_ngsi.platform
    ever = Ever(p)
    n = any_ngsi

    def step(call: Callable[[], Any], status: int = 204) -> None:
        clock.advance(timedelta(milliseconds=250))
        r = call()
        assert r.status_code == status, r.text
        ever.note()
        ever.check()

    prop = {"type": "Property", "value": 1}
    step(lambda: n.create(thing(1)), 201)
    step(lambda: n.call("PATCH", f"/entities/{EID}/attrs", {"speed": prop}))
    step(
        lambda: n.call(
            "POST", f"/entities/{EID}/attrs", {"speed": {**prop, "value": 2}, "extra": prop}
        )
    )
    step(
        lambda: n.call(
            "POST",
            f"/entities/{EID}/attrs",
            {"speed": {**prop, "value": 3, "datasetId": "urn:d:1"}},
        )
    )
    step(lambda: n.call("PATCH", f"/entities/{EID}/attrs/speed", {"value": 5}))
    step(
        lambda: n.call(
            "PATCH",
            f"/entities/{EID}",
            {"speed": {"type": "Property", "value": 6}, "near": "urn:ngsi-ld:null"},
        )
    )
    step(lambda: n.call("DELETE", f"/entities/{EID}/attrs/extra"))
    step(lambda: n.call("DELETE", f"/entities/{EID}/attrs/speed?datasetId=urn:d:1"))
    step(lambda: n.call("PUT", f"/entities/{EID}", {"type": "Thing", "speed": prop}))
    for mode in (
        "upsert?options=update",
        "upsert",
        "update?options=noOverwrite",
        "update",
        "merge",
    ):
        body = [{"id": EID, "type": "Thing", "speed": {**prop, "value": 9}, "other": prop}]
        step(lambda body=body, mode=mode: n.call("POST", f"/entityOperations/{mode}", body))
    markers = [r for r in p.ngsild.repo.instances("", EID) if r.deleted]
    assert len(markers) == 4  # near, extra, speed@urn:d:1, and location by the PUT
    before = _history(p)
    step(lambda: n.call("DELETE", f"/entities/{EID}"))
    # the entity gone, its last instances are in the history, as all the others
    assert len(_history(p)) == len(before) + len(ever.seen) - len(
        {r.instance_id for r in before if not r.deleted}
    )


def test_batches_in_every_mode_move_what_they_supersede(
    any_platform: Platform, clock: FixedClock
) -> None:
    p = any_platform
    ever = Ever(p)
    modes: list[BatchMode] = [
        "create",
        "upsert-update",
        "upsert-replace",
        "update",
        "update-keep",
        "merge",
    ]
    for n, mode in enumerate(modes):
        clock.advance(timedelta(seconds=1))
        attrs = {
            SPEED: [{"type": "Property", "value": n}],
            V + "a": [{"type": "Property", "value": n}],
        }
        if mode == "merge":
            attrs[V + "a"] = [{"type": "Property", "value": "urn:ngsi-ld:null"}]
        f = Fragment(EID, types=["https://example.org/Thing"], attrs=attrs)
        result = batch_write(p.ngsild.entities, GATE, "", [f], mode)
        assert result.success == [EID], (mode, result.errors)
        ever.note()
        ever.check()
    from charter.ngsild.batch import batch_delete

    assert batch_delete(p.ngsild.entities, GATE, "", [EID]).success == [EID]
    ever.check()


def test_retention_takes_the_current_instances_with_their_entity(
    any_platform: Platform, clock: FixedClock
) -> None:
    p = any_platform
    expires = to_ms(clock.now()) + 60_000
    for entity_id, until in ((EID, expires), ("urn:ngsi-ld:Thing:kept", None)):
        for value in (1, 2):  # the second supersedes the first
            f = Fragment(
                entity_id,
                types=["https://example.org/Thing"],
                attrs={SPEED: [{"type": "Property", "value": value}]},
                project_id="p1",
                category="mobility.counts",
                expires_at=until,
            )
            assert batch_write(p.ngsild.entities, GATE, "", [f], "upsert-update").success
    assert len(p.ngsild.repo.instances("", EID)) == 2
    with p.store.transaction() as tx:  # type: ignore[attr-defined]
        gone = purge_expired(tx, expires)
    assert gone == {"entities": 1, "instances": 1}
    assert p.ngsild.repo.instances("", EID) == []
    assert _entity(p) is None
    assert [r.value["value"] for r in p.ngsild.repo.instances("", "urn:ngsi-ld:Thing:kept")] == [
        1,
        2,
    ]


def test_the_temporal_api_deletes_and_edits_current_instances(any_ngsi: Ngsi) -> None:
    n = any_ngsi
    n.create(thing(1))
    temporal = f"/temporal/entities/{EID}"
    (speed,) = n.call("GET", f"{temporal}?attrs=speed").json()["speed"]
    # an edit of the current instance shows in the temporal answer; the entity keeps its own
    edit = n.call(
        "PATCH",
        f"{temporal}/attrs/speed/{speed['instanceId']}",
        {"speed": {"type": "Property", "value": 50}},
    )
    assert edit.status_code == 204, edit.text
    assert [i["value"] for i in n.call("GET", temporal).json()["speed"]] == [50]
    assert n.get(EID).json()["speed"]["value"] == 5
    # once superseded, the edited copy stays the one answered
    n.call("PATCH", f"/entities/{EID}/attrs/speed", {"type": "Property", "value": 6})
    assert [i["value"] for i in n.call("GET", temporal).json()["speed"]] == [50, 6]
    # deleting the current instance from the history leaves the entity as it is
    (near,) = n.call("GET", temporal).json()["near"]
    gone = n.call("DELETE", f"{temporal}/attrs/near/{near['instanceId']}")
    assert gone.status_code == 204
    assert "near" not in n.call("GET", temporal).json()
    assert n.get(EID).json()["near"]["object"] == "urn:ngsi-ld:Thing:2"
    again = n.call("DELETE", f"{temporal}/attrs/near/{near['instanceId']}")
    assert again.status_code == 404
    # an attribute's whole history, the current instance with it, and then there is none
    assert n.call("DELETE", f"{temporal}/attrs/speed").status_code == 204
    assert "speed" not in n.call("GET", temporal).json()
    assert n.call("DELETE", f"{temporal}/attrs/speed").status_code == 404
    # what was deleted from the history does not come back when the entity moves on
    n.call(
        "PATCH",
        f"/entities/{EID}/attrs",
        {
            "speed": {"type": "Property", "value": 7},
            "near": {"type": "Relationship", "object": "urn:ngsi-ld:Thing:3"},
        },
    )
    doc = n.call("GET", temporal).json()
    assert [i["value"] for i in doc["speed"]] == [7]
    assert [i["object"] for i in doc["near"]] == ["urn:ngsi-ld:Thing:3"]


def test_a_temporal_entity_answers_its_own_instances_only(any_ngsi: Ngsi) -> None:
    n = any_ngsi
    body = {
        "id": EID,
        "type": "Thing",
        "speed": [
            {"type": "Property", "value": v, "observedAt": f"2026-11-29T0{i}:00:00Z"}
            for i, v in enumerate([1, 2, 3])
        ],
    }
    assert n.call("POST", "/temporal/entities", body).status_code == 201
    assert n.get(EID).json()["speed"]["value"] == 3
    temporal = f"/temporal/entities/{EID}"
    assert [i["value"] for i in n.call("GET", temporal).json()["speed"]] == [1, 2, 3]
    n.call(
        "PATCH",
        f"/entities/{EID}/attrs/speed",
        {"type": "Property", "value": 4, "observedAt": "2026-11-29T05:00:00Z"},
    )
    assert [i["value"] for i in n.call("GET", temporal).json()["speed"]] == [1, 2, 3, 4]
