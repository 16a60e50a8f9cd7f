"""Key rotation over HTTP and from the command line: two people, and a chain anyone can follow."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from charter.api.app import create_app
from charter.auth import Role
from charter.bootstrap import Platform, build, ledger_key_path
from charter.domain.model import Actor
from charter.keys import load
from charter.ledger.checkpoint import (
    Checkpoint,
    key_id,
    parse_vkey,
    sign_checkpoint,
    verify_checkpoint,
    vkey,
)
from charter.settings import Settings
from charter.store.base import StoredCheckpoint
from tests.api.support import assert_problem, bearer
from tests.conftest import SampleCity
from tests.ledger.test_verify import charter


def test_rotation_over_http_needs_two_people_and_publishes_the_chain(
    platform: Platform, city: SampleCity
) -> None:
    with TestClient(create_app(platform)) as client:
        before = client.get("/ledger/key").json()
        assert set(before) == {"vkey", "origin"}  # unchanged without ?chain=true
        alice = bearer(platform, Role.OPERATOR, "alice")
        bob = bearer(platform, Role.COUNCIL, "bob")
        r = client.post(
            "/approvals",
            json={"kind": "rotate_ledger_key", "params": {}, "why": "yearly"},
            headers=alice,
        )
        assert r.status_code == 201, r.text
        action_id = r.json()["id"]
        r = client.post(f"/approvals/{action_id}/approve", json={"why": "me"}, headers=alice)
        assert_problem(r, 403, "SAME_PERSON")
        assert client.get("/ledger/key").json() == before  # nothing rotated

        r = client.post(f"/approvals/{action_id}/approve", json={"why": "agreed"}, headers=bob)
        assert r.status_code == 200, r.text
        result = r.json()["result"]
        after = client.get("/ledger/key", params={"chain": "true"}).json()
        assert after["vkey"] != before["vkey"] and after["vkey"] == result["vkey"]
        assert after["origin"] == before["origin"]
        first, second = after["chain"]
        assert first["vkey"] == before["vkey"] and first["retired_at_entry"] is not None
        assert first["last_size"] == result["rotated_at_entry"] + 1
        assert second["vkey"] == after["vkey"] and second["last_size"] is None
        assert second["first_size"] == first["last_size"] + 1

        # Until the log grows, the latest checkpoint is the hand-over, signed by the old key;
        # a reader checks each checkpoint with the key of the chain whose period covers it.
        note = client.get("/ledger/checkpoint").text
        assert verify_checkpoint(note, *parse_vkey(first["vkey"])).size == first["last_size"]
        city.grow_ledger(1)
        note = client.get("/ledger/checkpoint").text
        assert verify_checkpoint(note, *parse_vkey(after["vkey"])).size == platform.ledger.size
        # The hand-over entry names both keys.
        i = result["rotated_at_entry"]
        (entry,) = client.get("/ledger/entries", params={"start": i, "end": i + 1}).json()
        assert entry["kind"] == "ledger.key_rotated"
        assert entry["data"]["old_vkey"] == before["vkey"]
        assert entry["data"]["new_vkey"] == after["vkey"]


def test_the_command_proposes_only_and_verify_follows_the_rotation(tmp_path: Path) -> None:
    d = tmp_path / "charter-data"
    p = build(Settings(data_dir=d))
    try:
        city = SampleCity(p)
        p.ledger.checkpoint()
        first = p.ledger.key
    finally:
        p.close()

    r = charter(
        "ledger",
        "rotate-key",
        "--why",
        "yearly",
        "--as",
        "alice",
        "--data-dir",
        str(d),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    action = json.loads(r.stdout.strip().splitlines()[-1])
    assert action["kind"] == "rotate_ledger_key" and action["status"] == "pending"
    assert action["proposed_by"] == "alice"
    path = ledger_key_path(Settings(data_dir=d))
    assert key_id(first.name, load(path, first.name).public_key) == key_id(
        first.name, first.public_key
    )  # proposing alone rotates nothing

    p = build(Settings(data_dir=d))
    try:
        done = p.security.approvals.approve(action["id"], Actor(name="bob", role="council"), "ok")
        assert done.status == "approved"
        city.platform = p
        city.grow_ledger(3)
        p.ledger.checkpoint()
        new = p.ledger.key
    finally:
        p.close()

    r = charter("ledger", "verify", "--data-dir", str(d), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ledger OK" in r.stdout and "2 signing key(s)" in r.stdout
    # Trusting the current key instead, given out of band.
    r = charter(
        "ledger",
        "verify",
        "--data-dir",
        str(d),
        "--key",
        vkey(new.name, new.public_key),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr

    # Whoever kept the retired key signs a newer head: verify names it.
    p = build(Settings(data_dir=d))
    try:
        city.platform = p
        city.grow_ledger(2)
        size, root = p.ledger.size, p.ledger.root()
        note = sign_checkpoint(
            Checkpoint(p.ledger.origin, size, root), first.name, first.private_key
        )
        with p.store.transaction() as tx:
            tx.add_checkpoint(StoredCheckpoint(size, 0, root, note))
    finally:
        p.close()
    r = charter("ledger", "verify", "--data-dir", str(d), cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"FAIL checkpoint at size {size}: signed by the retired key" in r.stdout
