"""Verify the ledger end to end: every entry, every stored hash, every checkpoint.

Recomputes the tree from the entries alone and compares it with what the store
holds, and follows the chain of signing keys through the ``ledger.key_rotated``
entries: each checkpoint must be signed by the key of its own period. An
altered entry shows as a leaf that does not match; an altered hash row shows
as a node that does not match; a consistently rewritten history shows as a
checkpoint whose signed root no longer matches; a checkpoint signed after a
rotation by the retired key is named as such; a checkpoint missing at a
multiple of the declared spacing was deleted.

What the store alone cannot show is said in the report (`unproven`): a log cut
back, or rewritten after its newest checkpoint with the newer checkpoints
deleted, looks like an honest shorter log. A checkpoint kept outside the store
(`Trusted`: saved by an auditor, or a witness's state) or a witness's
cosignature (C2SP cosignature/v1) closes that gap up to its size: the entries
it covers are recomputed and must give its root (which is what a consistency
proof from it to the current tree would show, computed from the entries
rather than from stored hashes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from charter.ledger.checkpoint import (
    CHECKPOINT_EVERY,
    Checkpoint,
    CheckpointError,
    key_id,
    parse_checkpoint,
    verify_checkpoint,
    vkey,
)
from charter.ledger.cosignature import Witness, cosignatures
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
    proven: list[str] = field(default_factory=list)  # what an outside view confirms
    unproven: list[str] = field(default_factory=list)  # what this check cannot show

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Trusted:
    """A checkpoint kept outside the store: saved by an auditor, or a witness's state."""

    note: str
    source: str  # where it came from, for the report (a file name)


def verify(
    store: Store,
    key_name: str,
    public_key: Ed25519PublicKey,
    *,
    every: int = CHECKPOINT_EVERY,
    trusted: Sequence[Trusted] = (),
    witnesses: Sequence[Witness] = (),
) -> Report:
    """Check the whole ledger, trusting `key_name`/`public_key`.

    That key is usually the first signing key; it may be any key of the chain,
    since every key's checkpoints commit to the rotation entries before them.
    Each checkpoint must be signed by the key whose period covers its size;
    there must be one at every multiple of `every` (the declared spacing).
    `trusted` checkpoints and the cosignatures of `witnesses` are views from
    outside the store: the entries they cover must be unchanged and present.
    """
    problems: list[Problem] = []
    checkpoints = {c.size: c for c in store.ledger_checkpoints()}
    outside = _parse_trusted(trusted, problems)
    wanted = set(checkpoints) | {cp.size for _, cp in outside}
    roots: dict[int, bytes] = {}  # the recomputed root at each size of interest
    rotations: list[Rotation] = []
    frontier = Frontier()
    expected = 0

    if 0 in wanted:
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
        if frontier.size in wanted:
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
    for size in range(every, frontier.size + 1, every):
        if size not in checkpoints:
            problems.append(
                Problem(
                    f"checkpoint at size {size}",
                    f"missing: the ledger signs one every {every} entries, so it was deleted",
                )
            )
    witnessed: dict[int, str] = {}  # size -> who vouches for it from outside
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
        if _check_checkpoint(stored.note, stored.root, size, roots[size], chain, problems):
            _cosigned(stored.note, f"checkpoint at size {size}", witnesses, witnessed, problems)
    for source, cp in outside:
        _check_trusted(source, cp, frontier.size, roots, chain, witnesses, witnessed, problems)
    proven, unproven = _limits(frontier.size, set(checkpoints), witnessed, bool(witnesses))
    return Report(
        frontier.size, frontier.root(), len(checkpoints), problems, chain, proven, unproven
    )


def _parse_trusted(
    trusted: Sequence[Trusted], problems: list[Problem]
) -> list[tuple[Trusted, Checkpoint]]:
    out = []
    for t in trusted:
        try:
            out.append((t, parse_checkpoint(t.note)[0]))
        except CheckpointError as e:
            problems.append(Problem(f"trusted checkpoint {t.source}", f"malformed: {e}"))
    return out


def _cosigned(
    note: str,
    where: str,
    witnesses: Sequence[Witness],
    witnessed: dict[int, str],
    problems: list[Problem],
) -> None:
    """Record the configured witnesses' valid cosignatures of `note`; name a bad one."""
    try:
        signed = cosignatures(note, witnesses)
    except CheckpointError as e:
        problems.append(Problem(where, f"{e}: refused"))
        return
    size = parse_checkpoint(note)[0].size
    for name, timestamp in sorted(signed.items()):
        at = datetime.fromtimestamp(timestamp, UTC).isoformat()
        witnessed.setdefault(size, f"witness {name}'s cosignature of {at}")


def _check_trusted(
    t: Trusted,
    cp: Checkpoint,
    size: int,
    roots: dict[int, bytes],
    chain: list[KeyPeriod],
    witnesses: Sequence[Witness],
    witnessed: dict[int, str],
    problems: list[Problem],
) -> None:
    where = f"trusted checkpoint {t.source} (size {cp.size})"
    period = next(p for p in chain if p.covers(cp.size))
    try:
        verify_checkpoint(t.note, *period.public())
    except CheckpointError:
        problems.append(
            Problem(where, f"is not signed by key {period.key_id}, which signs its size")
        )
        return
    before = len(problems)
    _cosigned(t.note, where, witnesses, {}, problems)
    if len(problems) > before:
        return
    if cp.size > size:
        problems.append(
            Problem(where, f"the log now holds only {size} entries: entries were removed")
        )
    elif roots.get(cp.size) != cp.root:
        problems.append(
            Problem(
                where,
                f"entries 0..{cp.size - 1} are not those it signed: the history was rewritten",
            )
        )
    else:
        witnessed[cp.size] = f"the trusted checkpoint {t.source}"


def _limits(
    size: int, checkpoints: set[int], witnessed: dict[int, str], has_witnesses: bool
) -> tuple[list[str], list[str]]:
    """What an outside view proves, and, plainly, what this check cannot."""
    proven: list[str] = []
    unproven: list[str] = []
    newest = max((s for s in checkpoints if s <= size), default=0)
    anchor = max(witnessed, default=None)
    if anchor is not None:
        proven.append(
            f"entries 0..{anchor - 1} are the ones {witnessed[anchor]} covers: "
            "none was changed or removed since"
        )
    if anchor is None or anchor < size:
        start = 0 if anchor is None else anchor
        unproven.append(
            f"cannot prove that entries after size {start} were not cut back or rewritten "
            f"with the checkpoints after them deleted (the newest checkpoint left is at size "
            f"{newest}): the store cannot show what it no longer holds. A checkpoint saved "
            "earlier (--trusted-checkpoint FILE) or a witness's cosignature (--witness VKEY) "
            "of a later size would prove it"
        )
    if newest < size:
        unproven.append(
            f"cannot prove entries {newest}..{size - 1}: no signed checkpoint covers them yet"
        )
    if not has_witnesses:
        unproven.append(
            "cannot prove that the log showed everyone this same history (no witness "
            "key given): anyone holding the signing key could sign a second one"
        )
    return proven, unproven


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
) -> bool:
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
        return False
    ok = True
    if cp.size != size or cp.root != stored_root:
        problems.append(Problem(where, "the stored row differs from its signed note"))
        ok = False
    if cp.root != root:
        problems.append(
            Problem(
                where,
                f"signed root does not match entries 0..{size - 1}: "
                "the history before it was rewritten",
            )
        )
        ok = False
    return ok


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
