"""Verify the ledger end to end: every entry, every stored hash, every checkpoint.

Recomputes the tree from the entries alone and compares it with what the store
holds. An altered entry shows as a leaf that does not match; an altered hash
row shows as a node that does not match; a consistently rewritten history
shows as a checkpoint whose signed root no longer matches.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from charter.ledger.checkpoint import CheckpointError, verify_checkpoint
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

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(store: Store, key_name: str, public_key: Ed25519PublicKey) -> Report:
    problems: list[Problem] = []
    checkpoints = {c.size: c for c in store.ledger_checkpoints()}
    frontier = Frontier()
    expected = 0

    def check_checkpoint(size: int) -> None:
        stored = checkpoints.get(size)
        if stored is None:
            return
        where = f"checkpoint at size {size}"
        try:
            cp = verify_checkpoint(stored.note, key_name, public_key)
        except CheckpointError as e:
            problems.append(Problem(where, f"signature does not verify ({e})"))
            return
        if cp.size != size or cp.root != stored.root:
            problems.append(Problem(where, "the stored row differs from its signed note"))
        if cp.root != frontier.root():
            problems.append(
                Problem(
                    where,
                    f"signed root does not match entries 0..{size - 1}: "
                    "the history before it was rewritten",
                )
            )

    check_checkpoint(0)
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
        expected += 1
        check_checkpoint(frontier.size)
    for size in sorted(s for s in checkpoints if s > frontier.size):
        problems.append(
            Problem(
                f"checkpoint at size {size}",
                f"the log holds only {frontier.size} entries: entries were removed",
            )
        )
    return Report(frontier.size, frontier.root(), len(checkpoints), problems)
