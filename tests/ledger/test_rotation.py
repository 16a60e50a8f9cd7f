"""Rotating the ledger's signing key: two people, a signed hand-over, a chain anyone can follow."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from charter.bootstrap import Platform, build, ledger_key_path
from charter.domain.clock import FixedClock
from charter.domain.errors import CharterError
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.keys import SigningKey, load, load_public, write_private
from charter.ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    key_id,
    parse_vkey,
    sign_checkpoint,
    verify_checkpoint,
    vkey,
)
from charter.ledger.keychain import KEY_ROTATED
from charter.ledger.log import LedgerKeyMismatch
from charter.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from charter.ledger.rotation import pending_path, retired_path
from charter.ledger.verify import Report, verify
from charter.security.approvals import ActionKind
from charter.store.base import StoredCheckpoint
from tests.conftest import SampleCity

ALICE = Actor(name="alice", role="operator")
BOB = Actor(name="bob", role="council")


def rotate(platform: Platform) -> dict[str, object]:
    approvals = platform.security.approvals
    action = approvals.propose(ActionKind.ROTATE_LEDGER_KEY, {}, ALICE, "yearly rotation")
    done = approvals.approve(action.id, BOB, "agreed")
    assert done.status == "approved" and done.result is not None
    return done.result


def check(platform: Platform, key: SigningKey) -> Report:
    return verify(platform.store, key.name, key.public_key)


def kid(key: SigningKey) -> str:
    return key_id(key.name, key.public_key).hex()


@pytest.fixture
def rotated(platform: Platform, city: SampleCity) -> tuple[Platform, SigningKey, int]:
    """A ledger checkpointed under the first key, rotated, grown and checkpointed again."""
    city.grow_ledger(5)
    platform.ledger.checkpoint()
    first = platform.ledger.key
    result = rotate(platform)
    index = result["rotated_at_entry"]
    assert isinstance(index, int)
    city.grow_ledger(5)
    platform.ledger.checkpoint()
    return platform, first, index


def test_two_people_rotate_the_key_and_the_old_key_signs_the_hand_over(
    rotated: tuple[Platform, SigningKey, int],
) -> None:
    platform, first, index = rotated
    new = platform.ledger.key
    assert kid(new) != kid(first) and new.name == first.name
    (entry,) = platform.store.ledger_entries(index, index + 1)
    assert entry.kind == KEY_ROTATED
    body = json.loads(entry.data)
    assert body["new_vkey"] == vkey(new.name, new.public_key)
    assert (body["old_key_id"], body["key_name"]) == (kid(first), first.name)
    assert body["actor"] == {"name": "bob", "role": "council"}
    assert "PRIVATE" not in entry.data.decode()
    # The approval came just before, on the ledger too.
    (approved,) = platform.store.ledger_entries(index - 1, index)
    assert approved.kind == "approval.approved"

    handover = {c.size: c for c in platform.store.ledger_checkpoints()}[index + 1]
    assert verify_checkpoint(handover.note, first.name, first.public_key).size == index + 1
    with pytest.raises(CheckpointError):
        verify_checkpoint(handover.note, new.name, new.public_key)
    latest = platform.ledger.checkpoint()
    assert latest.size > index + 1
    verify_checkpoint(latest.note, new.name, new.public_key)
    with pytest.raises(CheckpointError):
        verify_checkpoint(latest.note, first.name, first.public_key)


def test_the_old_private_key_is_retired_on_disk(rotated: tuple[Platform, SigningKey, int]) -> None:
    platform, first, _ = rotated
    path = ledger_key_path(platform.settings)
    on_disk = load(path, first.name)
    assert kid(on_disk) == kid(platform.ledger.key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kept = retired_path(path, 0)
    assert kept.name == "ledger-retired-0.pub"
    assert key_id(first.name, load_public(kept)) == key_id(first.name, first.public_key)
    assert "PRIVATE" not in kept.read_text()
    assert not pending_path(path).exists()
    assert not any(p.name.endswith(".tmp") for p in path.parent.iterdir())


def test_one_person_alone_cannot_rotate(platform: Platform, city: SampleCity) -> None:
    before = kid(platform.ledger.key)
    approvals = platform.security.approvals
    action = approvals.propose(ActionKind.ROTATE_LEDGER_KEY, {}, ALICE, "yearly")
    with pytest.raises(CharterError) as e:
        approvals.approve(action.id, ALICE, "me again")
    assert e.value.reason is Reason.SAME_PERSON
    assert kid(platform.ledger.key) == before
    kinds = [e.kind for e in platform.store.ledger_entries(0, platform.ledger.size)]
    assert KEY_ROTATED not in kinds
    assert len(platform.ledger.chain()) == 1
    path = ledger_key_path(platform.settings)
    assert kid(load(path, platform.ledger.key.name)) == before


def test_verify_follows_the_chain_across_rotations(
    rotated: tuple[Platform, SigningKey, int], city: SampleCity
) -> None:
    platform, first, index = rotated
    second = platform.ledger.key
    rotate(platform)  # a second rotation
    city.grow_ledger(3)
    platform.ledger.checkpoint()
    third = platform.ledger.key

    report = check(platform, first)
    assert report.ok, report.problems
    assert [p.key_id for p in report.keys] == [kid(first), kid(second), kid(third)]
    assert report.keys[0].first_size == 0 and report.keys[0].last_size == index + 1
    assert report.keys[1].first_size == index + 2 and report.keys[-1].last_size is None
    # Any key of the chain is a trust anchor: its checkpoints commit to the entries before.
    assert check(platform, third).ok
    # The ledger's own view of the chain is the verifier's.
    assert platform.ledger.chain() == report.keys
    # A key not in the chain is named.
    stranger = SigningKey(first.name, Ed25519PrivateKey.generate())
    assert "signing key" in [p.where for p in check(platform, stranger).problems]


def test_a_checkpoint_forged_with_the_retired_key_is_caught(
    rotated: tuple[Platform, SigningKey, int], city: SampleCity
) -> None:
    platform, first, index = rotated
    city.grow_ledger(2)  # not yet checkpointed: whoever holds the old key signs this size
    size, root = platform.ledger.size, platform.ledger.root()
    note = sign_checkpoint(
        Checkpoint(platform.ledger.origin, size, root), first.name, first.private_key
    )
    with platform.store.transaction() as tx:
        tx.add_checkpoint(StoredCheckpoint(size, 0, root, note))

    report = check(platform, first)
    assert not report.ok
    (problem,) = report.problems
    assert problem.where == f"checkpoint at size {size}"
    assert f"signed by the retired key {kid(first)}" in problem.what
    assert f"retired at entry {index}" in problem.what


def test_a_rotation_entry_without_the_old_keys_checkpoint_is_named(
    rotated: tuple[Platform, SigningKey, int],
) -> None:
    platform, first, index = rotated
    conn = sqlite3.connect(platform.settings.database_path)
    with conn:
        conn.execute("DELETE FROM ledger_checkpoints WHERE size = ?", (index + 1,))
    conn.close()
    report = check(platform, first)
    assert f"entry {index}" in [p.where for p in report.problems]


def test_a_restarted_platform_keeps_the_new_key(
    rotated: tuple[Platform, SigningKey, int], clock: FixedClock, city: SampleCity
) -> None:
    platform, first, _ = rotated
    new = kid(platform.ledger.key)
    platform.close()
    again = build(platform.settings, clock=clock)
    try:
        assert kid(again.ledger.key) == new
        SampleCity.grow_ledger(_city(again, city), 3)
        note = again.ledger.checkpoint().note
        verify_checkpoint(note, again.ledger.key.name, again.ledger.key.public_key)
        assert check(again, first).ok
        assert [p.key_id for p in again.ledger.chain()] == [kid(first), new]
    finally:
        again.close()


def _city(p: Platform, city: SampleCity) -> SampleCity:
    """The same sample city, on a rebuilt platform."""
    city.platform = p
    return city


def test_a_restart_with_the_retired_key_refuses_to_sign(
    rotated: tuple[Platform, SigningKey, int], clock: FixedClock
) -> None:
    platform, first, _ = rotated
    platform.close()
    # Someone restores an old backup of the key file.
    write_private(ledger_key_path(platform.settings), first)
    with pytest.raises(LedgerKeyMismatch):
        build(platform.settings, clock=clock).close()


def test_a_crash_after_the_commit_finishes_the_rotation(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    """Steps 1-3 done (new key beside the old, the ledger's hand-over), the rename not."""
    path = ledger_key_path(platform.settings)
    first = platform.ledger.key
    new = SigningKey(first.name, Ed25519PrivateKey.generate())
    write_private(pending_path(path), new)
    platform.ledger.rotate(new, BOB, "crash test")
    platform.close()
    assert kid(load(path, first.name)) == kid(first)  # the crash: ledger.pem still old

    again = build(platform.settings, clock=clock)
    try:
        assert kid(again.ledger.key) == kid(new)
        assert kid(load(path, first.name)) == kid(new)
        assert not pending_path(path).exists()
    finally:
        again.close()


def test_a_crash_before_the_commit_keeps_the_old_key(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    path = ledger_key_path(platform.settings)
    first = platform.ledger.key
    platform.ledger.checkpoint()
    stray = SigningKey(first.name, Ed25519PrivateKey.generate())
    write_private(pending_path(path), stray)  # step 1 only
    platform.close()
    again = build(platform.settings, clock=clock)
    try:
        assert kid(again.ledger.key) == kid(first)
        assert not pending_path(path).exists()
        assert check(again, first).ok
    finally:
        again.close()


def test_proofs_verify_across_the_rotation(rotated: tuple[Platform, SigningKey, int]) -> None:
    platform, first, index = rotated
    new = platform.ledger.key
    checkpoints = sorted(platform.store.ledger_checkpoints(), key=lambda c: c.size)
    before = next(c for c in checkpoints if c.size < index + 1)
    old_cp = verify_checkpoint(before.note, first.name, first.public_key)
    new_cp = verify_checkpoint(platform.ledger.checkpoint().note, new.name, new.public_key)

    proof = platform.ledger.consistency(old_cp.size, new_cp.size)
    assert verify_consistency(old_cp.size, new_cp.size, old_cp.root, new_cp.root, proof)
    for i in (0, old_cp.size - 1, index, new_cp.size - 1):
        (entry,) = platform.store.ledger_entries(i, i + 1)
        path = platform.ledger.inclusion(i, new_cp.size)
        assert verify_inclusion(leaf_hash(entry.data), i, new_cp.size, path, new_cp.root)
    # The rotation entry is also in the hand-over checkpoint the old key signed.
    handover = {c.size: c for c in checkpoints}[index + 1]
    hand = verify_checkpoint(handover.note, first.name, first.public_key)
    (entry,) = platform.store.ledger_entries(index, index + 1)
    path = platform.ledger.inclusion(index, hand.size)
    assert verify_inclusion(leaf_hash(entry.data), index, hand.size, path, hand.root)


def test_parse_vkey_round_trips_and_refuses_a_wrong_id(platform: Platform) -> None:
    key = platform.ledger.key
    text = vkey(key.name, key.public_key)
    name, public = parse_vkey(text)
    assert name == key.name and key_id(name, public) == key_id(key.name, key.public_key)
    name, _kid, encoded = text.split("+", 2)
    with pytest.raises(CheckpointError):
        parse_vkey(f"{name}+00000000+{encoded}")
    with pytest.raises(CheckpointError):
        parse_vkey("no-separators")


def test_retired_path_numbers_by_generation(tmp_path: Path) -> None:
    assert retired_path(tmp_path / "ledger.pem", 3).name == "ledger-retired-3.pub"
