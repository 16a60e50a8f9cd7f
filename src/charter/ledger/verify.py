"""Verify the ledger end to end: every entry, every stored hash, every checkpoint.

Recomputes the tree from the entries alone and compares it with what the store
holds, and follows the chain of signing keys through the ``ledger.key_rotated``
entries: each checkpoint must be signed by the key of its own period. An
altered entry shows as a leaf that does not match; an altered hash row shows
as a node that does not match; a consistently rewritten history shows as a
checkpoint whose signed root no longer matches; a checkpoint signed after a
rotation by the retired key is named as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from charter.ledger.checkpoint import CheckpointError, key_id, verify_checkpoint, vkey
from charter.ledger.keychain import KEY_ROTATED, KeyPeriod, Rotation, chain_of
from charter.ledger.merkle import Frontier
from charter.store.base import Store


@dataclass(frozen=True)
class Problem:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass(frozen=True)
class Report:
    size: int
    root: bytes
    checkpoints: int
    problems: list[Problem]
    keys: list[KeyPeriod] = field(default_factory=list)  # the signing key chain

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(store: Store, key_name: str, public_key: Ed25519PublicKey) -> Report:
    """Check the whole ledger, trusting `key_name`/`public_key`.

    That key is usually the first signing key; it may be any key of the chain,
    since every key's checkpoints commit to the rotation entries before them.
    Each checkpoint must be signed by the key whose period covers its size.
    """
    problems: list[Problem] = []
    checkpoints = {c.size: c for c in store.ledger_checkpoints()}
    roots: dict[int, bytes] = {}  # the recomputed root at each checkpointed size
    rotations: list[Rotation] = []
    frontier = Frontier()
    expected = 0

    if 0 in checkpoints:
        roots[0] = frontier.root()
    for entry in store.iter_ledger_entries():
        if entry.idx != expected:
            problems.append(Problem(f"entry {expected}", f"missing (next stored is {entry.idx})"))
            break
        for level, idx, digest in frontier.append(entry.data):
            try:
                stored_hash = store.ledger_node(level, idx)
            except KeyError:
                problems.append(Problem(f"node ({level}, {idx})", "missing"))
                continue
            if stored_hash != digest:
                if level == 0:
                    problems.append(
                        Problem(f"entry {idx}", "its data does not match its leaf hash: altered")
                    )
                else:
                    problems.append(
                        Problem(f"node ({level}, {idx})", "hash does not match the entries below")
                    )
        if entry.kind == KEY_ROTATED:
            try:
                rotations.append(Rotation.from_entry(entry.idx, entry.data))
            except CheckpointError as e:
                problems.append(Problem(f"entry {entry.idx}", str(e)))
        expected += 1
        if frontier.size in checkpoints:
            roots[frontier.size] = frontier.root()

    chain = _chain(rotations, vkey(key_name, public_key), problems)
    anchor = key_id(key_name, public_key).hex()
    if chain and all(p.key_id != anchor for p in chain):
        problems.append(
            Problem("signing key", f"the key given ({anchor}) is not in the ledger's key chain")
        )
    for r in rotations:
        if r.index + 1 <= frontier.size and r.index + 1 not in checkpoints:
            problems.append(
                Problem(
                    f"entry {r.index}",
                    "key rotation without the old key's checkpoint covering it: "
                    "the hand-over is not signed",
                )
            )
    for size in sorted(checkpoints):
        stored = checkpoints[size]
        if size not in roots:
            problems.append(
                Problem(
                    f"checkpoint at size {size}",
                    f"the log holds only {frontier.size} entries: entries were removed",
                )
            )
            continue
        _check_checkpoint(stored.note, stored.root, size, roots[size], chain, problems)
    return Report(frontier.size, frontier.root(), len(checkpoints), problems, chain)


def _chain(rotations: list[Rotation], anchor: str, problems: list[Problem]) -> list[KeyPeriod]:
    """The key chain; a rotation that does not hand over from the current key is named."""
    kept: list[Rotation] = []
    for r in rotations:
        first = kept[0].old_vkey if kept else r.old_vkey
        try:
            chain_of(first, [*kept, r])
        except CheckpointError as e:
            problems.append(Problem(f"entry {r.index}", str(e)))
            continue
        kept.append(r)
    return chain_of(kept[0].old_vkey if kept else anchor, kept)


def _check_checkpoint(
    note: str,
    stored_root: bytes,
    size: int,
    root: bytes,
    chain: list[KeyPeriod],
    problems: list[Problem],
) -> None:
    where = f"checkpoint at size {size}"
    period = next(p for p in chain if p.covers(size))
    try:
        cp = verify_checkpoint(note, *period.public())
    except CheckpointError as e:
        problems.append(
            Problem(
                where,
                _wrong_signer(note, size, period, chain) or (f"signature does not verify ({e})"),
            )
        )
        return
    if cp.size != size or cp.root != stored_root:
        problems.append(Problem(where, "the stored row differs from its signed note"))
    if cp.root != root:
        problems.append(
            Problem(
                where,
                f"signed root does not match entries 0..{size - 1}: "
                "the history before it was rewritten",
            )
        )


def _wrong_signer(note: str, size: int, period: KeyPeriod, chain: list[KeyPeriod]) -> str | None:
    """If another key of the chain signed `note`, say which and why it may not."""
    for other in chain:
        if other is period:
            continue
        try:
            verify_checkpoint(note, *other.public())
        except CheckpointError:
            continue
        if other.last_size is not None and size > other.last_size:
            return (
                f"signed by the retired key {other.key_id} (retired at entry "
                f"{other.retired_at_entry}, good up to size {other.last_size}); "
                f"key {period.key_id} signs this size"
            )
        return (
            f"signed by key {other.key_id} before its period (from size {other.first_size}); "
            f"key {period.key_id} signs this size"
        )
    return None
