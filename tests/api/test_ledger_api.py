"""The public record over HTTP: signed checkpoints, entries, inclusion and consistency proofs."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from charter.bootstrap import Platform
from charter.ledger.checkpoint import Checkpoint, CheckpointError, verify_checkpoint, vkey
from charter.ledger.merkle import EMPTY_ROOT, leaf_hash, verify_consistency, verify_inclusion
from tests.api.support import assert_problem
from tests.conftest import SampleCity


def checkpoint(client: TestClient, platform: Platform) -> Checkpoint:
    r = client.get("/ledger/checkpoint")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    key = platform.ledger.key
    return verify_checkpoint(r.text, key.name, key.public_key)


def b64(items: list[str]) -> list[bytes]:
    return [base64.b64decode(x) for x in items]


# --- checkpoints ----------------------------------------------------------------------


def test_the_checkpoint_is_a_signed_note_of_the_current_tree(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    r = client.get("/ledger/checkpoint")
    note = r.text
    key = platform.ledger.key
    cp = verify_checkpoint(note, key.name, key.public_key)
    assert cp.origin == platform.settings.ledger_origin
    assert cp.size == platform.ledger.size == 20
    assert cp.root == platform.ledger.root()
    assert note.startswith(f"{platform.settings.ledger_origin}\n20\n")
    assert f"\n\n\u2014 {key.name} " in note
    # Asking again without growth returns the same note; growth gives a new one.
    assert client.get("/ledger/checkpoint").text == note
    city.grow_ledger(1)
    assert checkpoint(client, platform).size == 21


def test_the_checkpoint_does_not_verify_with_another_key_or_when_altered(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    note = client.get("/ledger/checkpoint").text
    key = platform.ledger.key
    with pytest.raises(CheckpointError):
        verify_checkpoint(note, key.name, Ed25519PrivateKey.generate().public_key())
    forged = note.replace("\n20\n", "\n21\n", 1)
    with pytest.raises(CheckpointError):
        verify_checkpoint(forged, key.name, key.public_key)


def test_an_empty_ledger_has_a_checkpoint_of_the_empty_tree(
    client: TestClient, platform: Platform
) -> None:
    cp = checkpoint(client, platform)
    assert (cp.size, cp.root) == (0, EMPTY_ROOT)


def test_the_verifier_key_is_published(client: TestClient, platform: Platform) -> None:
    r = client.get("/ledger/key")
    assert r.status_code == 200
    key = platform.ledger.key
    assert r.json() == {
        "vkey": vkey(key.name, key.public_key),
        "origin": platform.settings.ledger_origin,
    }


# --- entries ---------------------------------------------------------------------------


def test_entries_carry_their_exact_bytes(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    r = client.get("/ledger/entries", params={"start": 0, "end": 100})
    assert r.status_code == 200
    entries = r.json()
    assert [e["index"] for e in entries] == list(range(20))
    stored = platform.store.ledger_entries(0, 20)
    for e, s in zip(entries, stored, strict=True):
        raw = base64.b64decode(e["raw"])
        assert raw == s.data
        assert msgspec.json.decode(raw) == e["data"]
        assert e["kind"] == e["data"]["kind"] == s.kind
    kinds = [e["kind"] for e in entries]
    assert kinds[:2] == ["vendor.registered", "vendor.registered"]
    assert kinds.count("device.registered") == 4
    # Entries name who acted, in which role, and why; and hold no device key.
    for e in entries:
        assert e["data"]["actor"]["role"] in ("operator", "council")
        assert e["data"]["why"]
    assert city.air.public_key_b64 not in r.text

    window = client.get("/ledger/entries", params={"start": 5, "end": 8}).json()
    assert [e["index"] for e in window] == [5, 6, 7]
    assert client.get("/ledger/entries", params={"start": 20, "end": 30}).json() == []


# --- proofs against checkpoints -----------------------------------------------------------


@pytest.fixture
def history(
    client: TestClient, platform: Platform, city: SampleCity
) -> tuple[list[bytes], list[Checkpoint]]:
    """A ledger of 50 entries, with checkpoints fetched at sizes along the way."""
    seen = [checkpoint(client, platform)]  # 20
    for step in (1, 3, 8, 1, 13, 4):  # 21, 24, 32, 33, 46, 50
        city.grow_ledger(step)
        seen.append(checkpoint(client, platform))
    assert [c.size for c in seen] == [20, 21, 24, 32, 33, 46, 50]
    entries = client.get("/ledger/entries", params={"start": 0, "end": 50}).json()
    return [base64.b64decode(e["raw"]) for e in entries], seen


def inclusion(client: TestClient, index: int, size: int) -> list[bytes]:
    r = client.get("/ledger/proof/inclusion", params={"index": index, "size": size})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["index"], body["size"]) == (index, size)
    return b64(body["proof"])


def test_every_entry_is_provably_in_every_checkpoint_that_covers_it(
    client: TestClient, history: tuple[list[bytes], list[Checkpoint]]
) -> None:
    raws, checkpoints = history
    assert len(raws) == 50
    for cp in checkpoints:
        for i in range(cp.size):
            proof = inclusion(client, i, cp.size)
            assert verify_inclusion(leaf_hash(raws[i]), i, cp.size, proof, cp.root), (i, cp.size)


def test_an_inclusion_proof_does_not_prove_anything_else(
    client: TestClient, history: tuple[list[bytes], list[Checkpoint]]
) -> None:
    raws, checkpoints = history
    latest = checkpoints[-1]
    proof = inclusion(client, 17, latest.size)
    assert verify_inclusion(leaf_hash(raws[17]), 17, latest.size, proof, latest.root)
    altered = raws[17].replace(b'"why":"', b'"why":"not ', 1)
    assert altered != raws[17]
    assert not verify_inclusion(leaf_hash(altered), 17, latest.size, proof, latest.root)
    assert not verify_inclusion(leaf_hash(raws[18]), 17, latest.size, proof, latest.root)
    assert not verify_inclusion(leaf_hash(raws[17]), 16, latest.size, proof, latest.root)
    assert not verify_inclusion(leaf_hash(raws[17]), 17, latest.size, proof, checkpoints[0].root)


def test_every_checkpoint_is_consistent_with_every_later_one(
    client: TestClient, history: tuple[list[bytes], list[Checkpoint]]
) -> None:
    _, checkpoints = history
    for old, new in itertools.combinations_with_replacement(checkpoints, 2):
        r = client.get("/ledger/proof/consistency", params={"old": old.size, "new": new.size})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["old"], body["new"]) == (old.size, new.size)
        proof = b64(body["proof"])
        assert verify_consistency(old.size, new.size, old.root, new.root, proof), (
            old.size,
            new.size,
        )
        if old.size < new.size:
            # The same proof does not vouch for a different old root.
            assert not verify_consistency(old.size, new.size, EMPTY_ROOT, new.root, proof)


def test_consistency_from_the_empty_tree(
    client: TestClient, history: tuple[list[bytes], list[Checkpoint]]
) -> None:
    _, checkpoints = history
    r = client.get("/ledger/proof/consistency", params={"old": 0, "new": 50})
    assert r.status_code == 200
    assert r.json()["proof"] == []
    assert verify_consistency(0, 50, EMPTY_ROOT, checkpoints[-1].root, [])


# --- bad parameters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        pytest.param("/ledger/proof/inclusion", {"index": 20, "size": 20}, id="index-eq-size"),
        pytest.param("/ledger/proof/inclusion", {"index": 3, "size": 2}, id="index-gt-size"),
        pytest.param("/ledger/proof/inclusion", {"index": 0, "size": 21}, id="size-beyond-log"),
        pytest.param("/ledger/proof/inclusion", {"index": -1, "size": 5}, id="negative-index"),
        pytest.param("/ledger/proof/inclusion", {"index": 0, "size": 0}, id="size-0"),
        pytest.param("/ledger/proof/inclusion", {"index": "one", "size": 5}, id="not-a-number"),
        pytest.param("/ledger/proof/inclusion", {"size": 5}, id="index-missing"),
        pytest.param("/ledger/proof/consistency", {"old": 10, "new": 5}, id="old-gt-new"),
        pytest.param("/ledger/proof/consistency", {"old": 5, "new": 21}, id="new-beyond-log"),
        pytest.param("/ledger/proof/consistency", {"old": -1, "new": 5}, id="negative-old"),
        pytest.param("/ledger/proof/consistency", {"old": 1}, id="new-missing"),
        pytest.param("/ledger/entries", {"start": 5, "end": 5}, id="empty-range"),
        pytest.param("/ledger/entries", {"start": 9, "end": 3}, id="reversed-range"),
        pytest.param("/ledger/entries", {"start": 0, "end": 1001}, id="too-many"),
        pytest.param("/ledger/entries", {"start": -1, "end": 3}, id="negative-start"),
    ],
)
def test_bad_ledger_parameters_are_a_422_problem(
    client: TestClient, city: SampleCity, path: str, params: dict[str, Any]
) -> None:
    assert_problem(client.get(path, params=params), 422, "VALIDATION_FAILED")
