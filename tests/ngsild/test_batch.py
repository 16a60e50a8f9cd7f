"""Batch entity operations (clause 5.6.7-5.6.10, 5.6.20): 201/204/207, duplicates, atomicity."""

from __future__ import annotations

import errno

from tests.ngsild.conftest import ERRORS, Ngsi, problem, thing


def ids(*ns: int) -> list[str]:
    return [f"urn:ngsi-ld:Thing:{n}" for n in ns]


def test_batch_create_is_201_with_the_ids(any_ngsi: Ngsi) -> None:
    r = any_ngsi.call("POST", "/entityOperations/create", [thing(1), thing(2)])
    assert r.status_code == 201, r.text
    assert r.json() == ids(1, 2)
    assert any_ngsi.get(ids(2)[0]).json()["speed"]["value"] == 5


def test_batch_create_is_207_for_existing_duplicate_and_invalid(any_ngsi: Ngsi) -> None:
    any_ngsi.create(thing(1))
    bad = {"id": "not a uri", "type": "Thing"}
    r = any_ngsi.call("POST", "/entityOperations/create", [thing(1), thing(2), thing(2), bad])
    assert r.status_code == 207, r.text
    body = r.json()
    assert body["success"] == ids(2)
    errors = {(e["entityId"], e["error"]["type"]) for e in body["errors"]}
    assert errors == {
        (ids(1)[0], ERRORS + "AlreadyExists"),
        (ids(2)[0], ERRORS + "BadRequestData"),
        ("not a uri", ERRORS + "BadRequestData"),
    }
    # the duplicate did not overwrite the first copy
    assert any_ngsi.get(ids(2)[0]).status_code == 200


def test_batch_upsert_creates_201_then_replaces_204(any_ngsi: Ngsi) -> None:
    r = any_ngsi.call("POST", "/entityOperations/upsert", [thing(1), thing(2)])
    assert r.status_code == 201 and r.json() == ids(1, 2)
    r = any_ngsi.call("POST", "/entityOperations/upsert",
                      [{"id": ids(1)[0], "type": "Thing", "only": 1}])  # fmt: skip
    assert r.status_code == 204
    got = any_ngsi.get(ids(1)[0], "?options=keyValues").json()
    assert got == {"id": ids(1)[0], "type": "Thing", "only": 1}
    r = any_ngsi.call("POST", "/entityOperations/upsert?options=update",
                      [{"id": ids(2)[0], "type": "Thing", "extra": 2}, thing(3)])  # fmt: skip
    assert r.status_code == 201 and r.json() == ids(3)
    got = any_ngsi.get(ids(2)[0], "?options=keyValues").json()
    assert got["extra"] == 2 and got["speed"] == 5


def test_batch_update_merge_and_delete(any_ngsi: Ngsi) -> None:
    any_ngsi.call("POST", "/entityOperations/create", [thing(1), thing(2)])
    r = any_ngsi.call("POST", "/entityOperations/update",
                      [{"id": ids(1)[0], "speed": 9}, {"id": ids(9)[0], "speed": 1}])  # fmt: skip
    assert r.status_code == 207
    assert r.json()["success"] == ids(1)
    assert r.json()["errors"][0]["error"]["type"] == ERRORS + "ResourceNotFound"
    r = any_ngsi.call("POST", "/entityOperations/update?options=noOverwrite",
                      [{"id": ids(1)[0], "speed": 1, "new": 1}])  # fmt: skip
    assert r.status_code == 204
    got = any_ngsi.get(ids(1)[0], "?options=keyValues").json()
    assert (got["speed"], got["new"]) == (9, 1)
    r = any_ngsi.call(
        "POST",
        "/entityOperations/merge",
        [{"id": ids(2)[0], "near": "urn:ngsi-ld:null", "speed": {"value": 2}}],
    )
    assert r.status_code == 204, r.text
    got = any_ngsi.get(ids(2)[0]).json()
    assert "near" not in got and got["speed"]["value"] == 2 and got["speed"]["unitCode"] == "KMH"
    r = any_ngsi.call("POST", "/entityOperations/delete", ids(1, 2))
    assert r.status_code == 204
    r = any_ngsi.call("POST", "/entityOperations/delete", ids(1))
    assert r.status_code == 207 and r.json()["success"] == []


def test_a_batch_that_is_not_an_array_is_bad_request_data(ngsi: Ngsi) -> None:
    problem(ngsi.call("POST", "/entityOperations/create", thing(1)), 400, "BadRequestData")
    problem(ngsi.call("POST", "/entityOperations/delete", ["nope"]), 400, "BadRequestData")


def test_a_failed_batch_commits_nothing(ngsi: Ngsi) -> None:
    repo = ngsi.platform.ngsild.repo
    from charter.store.ngsild import EntityWriter

    def broken(self: EntityWriter, rows: object) -> None:
        raise OSError(errno.ENOSPC, "disk full")

    import pytest

    mp = pytest.MonkeyPatch()
    mp.setattr(EntityWriter, "add_history", broken)  # the last write of a batch
    try:
        r = ngsi.call("POST", "/entityOperations/create", [thing(1), thing(2)])
        assert r.status_code == 503
    finally:
        mp.undo()
    assert repo.get("", ids(1)[0]) is None and repo.get("", ids(2)[0]) is None


def test_an_item_that_is_not_an_object_fails_alone(ngsi: Ngsi) -> None:
    r = ngsi.call("POST", "/entityOperations/upsert", [thing(1), 7, "x"])
    assert r.status_code == 207, r.text
    assert r.json()["success"] == ids(1)
    assert [e["error"]["type"] for e in r.json()["errors"]] == [ERRORS + "BadRequestData"] * 2
