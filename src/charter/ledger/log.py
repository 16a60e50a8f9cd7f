"""The public record: an append-only Merkle log kept in the store.

Appending writes the leaf and the perfect subtrees it completes (amortised two
rows); roots and proofs read O(log n) stored hashes. Writes that must be on the
record go through `Ledger.write()`, which commits the change and its entry
together, so there is never a change without its entry or an entry without its
change.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec

from charter.domain.clock import Clock, iso, to_ms
from charter.domain.model import Actor
from charter.keys import SigningKey
from charter.ledger.checkpoint import (
    CHECKPOINT_EVERY,
    Checkpoint,
    key_id,
    sign_checkpoint,
    signer_ids,
    vkey,
)
from charter.ledger.keychain import KEY_ROTATED, KeyPeriod, Rotation, chain_of
from charter.ledger.merkle import Frontier, consistency_proof, inclusion_proof
from charter.store.base import LedgerEntry, Store, StoredCheckpoint, Tx

_encode = msgspec.json.Encoder(order="sorted").encode


KeySource = Callable[[], SigningKey]
"""Where the ledger finds the current signing key again after another process rotated it."""


class LedgerTx:
    """A store transaction that can also append to the ledger.

    An append that brings the ledger to a multiple of the declared spacing
    (`CHECKPOINT_EVERY`) signs the checkpoint of that size in the same
    transaction, so the spacing holds whichever process writes, and a crash
    never leaves the entries without their checkpoint.
    """

    def __init__(
        self,
        tx: Tx,
        frontier: Frontier,
        now_ms: int,
        origin: str,
        key: SigningKey,
        every: int = CHECKPOINT_EVERY,
    ) -> None:
        self.tx = tx
        self.now_ms = now_ms
        self._frontier = frontier
        self._origin, self._key, self._every = origin, key, every
        self._signed: StoredCheckpoint | None = None

    @property
    def size(self) -> int:
        return self._frontier.size

    def record(self, kind: str, actor: Actor | None, **fields: Any) -> int:
        """Append an entry; returns its index. Entries never hold personal data."""
        idx = self._frontier.size
        body: dict[str, Any] = {"kind": kind, "at": iso(self.now_ms), **fields}
        if actor is not None:
            body["actor"] = {"name": actor.name, "role": actor.role}
        data = _encode(body)
        nodes = self._frontier.append(data)
        self.tx.append_ledger(LedgerEntry(idx, self.now_ms, kind, data), nodes)
        if self._frontier.size % self._every == 0:
            self.checkpoint()
        return idx

    def checkpoint(self) -> StoredCheckpoint:
        """Sign the checkpoint of the ledger as it stands in this transaction."""
        size = self._frontier.size
        if self._signed is not None and self._signed.size == size:
            return self._signed
        root = self._frontier.root()
        note = sign_checkpoint(
            Checkpoint(self._origin, size, root), self._key.name, self._key.private_key
        )
        self._signed = StoredCheckpoint(size, self.now_ms, root, note)
        self.tx.add_checkpoint(self._signed)
        return self._signed


class LedgerKeyMismatch(RuntimeError):
    """The signing key given is not the one the ledger says is current."""


def current_key_id(store: Store, key_name: str) -> bytes | None:
    """The id of the key the ledger says signs next, or None for a ledger never signed.

    O(1): a rotation commits its entry and the old key's checkpoint covering it
    together, so either the latest checkpoint ends with a rotation entry (the
    new key is current) or its signer is the current key.
    """
    latest = store.latest_checkpoint()
    if latest is None:
        return None
    last = store.ledger_entries(latest.size - 1, latest.size) if latest.size > 0 else []
    if last and last[0].kind == KEY_ROTATED:
        return bytes.fromhex(Rotation.from_entry(last[0].idx, last[0].data).new_key_id)
    ids = [kid for name, kid in signer_ids(latest.note) if name == key_name]
    return ids[0] if ids else None


class Ledger:
    """The log as the store holds it, whichever process appended to it.

    Any number of processes may append: every write first takes the store's
    ledger lock (`Tx.lock_ledger`) and compares the committed size with its
    in-memory frontier; if another writer moved it, the frontier is read
    again (one stored hash per set bit of the size) and the signing key is
    checked against the one the ledger says is current, so a rotation by
    another process is followed, never signed over with the retired key.
    """

    # The declared spacing of checkpoints: one at every multiple of it, which
    # `charter ledger verify` checks (a missing one was deleted).
    CHECKPOINT_EVERY = CHECKPOINT_EVERY

    def __init__(
        self,
        store: Store,
        key: SigningKey,
        origin: str,
        clock: Clock,
        reload_key: KeySource | None = None,
    ) -> None:
        self.store, self.origin, self.clock = store, origin, clock
        self._key, self._reload_key = key, reload_key
        self._lock = threading.RLock()
        self._writing = 0  # > 0 while this process's writer holds the store's ledger lock
        self._frontier = Frontier.from_nodes(store.ledger_size(), store.ledger_node)
        latest = store.latest_checkpoint()
        kid = key_id(key.name, key.public_key)
        # Reads no entry unless the key did not sign the latest checkpoint (after a rotation).
        if latest is not None and (key.name, kid) not in signer_ids(latest.note):
            expected = current_key_id(store, key.name)
            if expected is not None and expected != kid:
                raise LedgerKeyMismatch(
                    f"the ledger's current signing key is {expected.hex()}, but the key given "
                    f"is {kid.hex()} (a retired key, or the wrong file)"
                )
        self._chain: list[KeyPeriod] | None = None  # derived from the entries on first use
        self._key_size = self._frontier.size  # the size at which the key was found current

    @property
    def key(self) -> SigningKey:
        """The current signing key (after a rotation by another process, the new one)."""
        if self._lock.acquire(blocking=False):
            try:
                if not self._writing:
                    self._sync(self.store.ledger_size())
                    self._check_key()
            finally:
                self._lock.release()
        return self._key

    @property
    def size(self) -> int:
        self._refresh()
        return self._frontier.size

    def root(self) -> bytes:
        self._refresh()
        return self._frontier.root()

    def _refresh(self) -> None:
        """Catch up with the store, unless this process is writing (its view is then newer).

        Never waits for a writer of this process: a reader of the key or the size
        may hold other locks (the gate's) that the writer takes after this one.
        """
        if not self._lock.acquire(blocking=False):
            return
        try:
            if not self._writing:
                self._sync(self.store.ledger_size())
        finally:
            self._lock.release()

    def _sync(self, size: int) -> None:
        """Re-read the frontier if another process moved the ledger to `size`."""
        if size != self._frontier.size:
            self._frontier = Frontier.from_nodes(size, self.store.ledger_node)
            self._chain = None

    def _check_key(self) -> None:
        """After another process appended: is our key still the current one? If not, follow."""
        if self._key_size == self._frontier.size:
            return
        expected = current_key_id(self.store, self._key.name)
        if expected is not None and expected != key_id(self._key.name, self._key.public_key):
            key = self._reload_key() if self._reload_key else None
            if key is None or key_id(key.name, key.public_key) != expected:
                raise LedgerKeyMismatch(
                    f"another process rotated the ledger's signing key to {expected.hex()}, "
                    "and this process cannot find it"
                )
            self._key = key
        self._key_size = self._frontier.size

    @contextmanager
    def _locked(self) -> Iterator[Tx]:
        """A store transaction holding the ledger lock, with this process caught up."""
        with self._lock, self.store.transaction() as tx:
            self._sync(tx.lock_ledger())
            self._check_key()
            self._writing += 1
            try:
                yield tx
            finally:
                self._writing -= 1

    @contextmanager
    def write(self) -> Iterator[LedgerTx]:
        with self._lock:
            with self._locked() as tx:
                frontier = self._frontier.copy()
                yield LedgerTx(
                    tx,
                    frontier,
                    to_ms(self.clock.now()),
                    self.origin,
                    self._key,
                    self.CHECKPOINT_EVERY,
                )
            self._frontier = frontier
            self._key_size = frontier.size  # our own entries rotate no key

    def checkpoint(self) -> StoredCheckpoint:
        """The newest signed checkpoint, signing a new one if the log has grown."""
        latest = self.store.latest_checkpoint()
        if latest is not None and latest.size == self.store.ledger_size():
            return latest  # the common case takes no write lock
        with self.write() as w:
            latest = self.store.latest_checkpoint()  # committed, and held still by the lock
            if latest is not None and latest.size == w.size:
                return latest
            return w.checkpoint()

    def chain(self) -> list[KeyPeriod]:
        """Every signing key so far with the sizes it signs, derived from the entries."""
        self._refresh()
        with self._lock:
            return list(self._chain_locked())

    def _chain_locked(self) -> list[KeyPeriod]:
        if self._chain is None:
            rotations = [
                Rotation.from_entry(e.idx, e.data)
                for e in self.store.iter_ledger_entries()
                if e.kind == KEY_ROTATED and e.idx < self._frontier.size
            ]
            first = (
                rotations[0].old_vkey if rotations else vkey(self._key.name, self._key.public_key)
            )
            self._chain = chain_of(first, rotations)
        return self._chain

    def rotate(self, new_key: SigningKey, actor: Actor | None, why: str) -> Rotation:
        """Hand over to `new_key`: the entry, and the old key's checkpoint covering it.

        Both are committed in one transaction; from then on checkpoints are
        signed by `new_key`. Keeping the new private key safe is the caller's
        part (see `charter.ledger.rotation`).
        """
        if new_key.name != self._key.name:
            raise ValueError("the new key must keep the ledger's key name")
        with self._lock:
            before = self._key
            with self._locked() as tx:
                if self._key is not before:
                    raise LedgerKeyMismatch("another process rotated the key meanwhile")
                old = self._key
                chain = self._chain_locked()
                frontier = self._frontier.copy()
                now = to_ms(self.clock.now())
                fields = Rotation.fields(
                    len(chain), (old.name, old.public_key), (new_key.name, new_key.public_key)
                )
                w = LedgerTx(tx, frontier, now, self.origin, old, self.CHECKPOINT_EVERY)
                idx = w.record(KEY_ROTATED, actor, **fields, why=why)
                w.checkpoint()  # by the old key: the hand-over is signed by the key trusted
            self._frontier = frontier
            self._key, self._key_size = new_key, frontier.size
            rotation = Rotation(
                idx,
                len(chain),
                fields["old_vkey"],
                fields["old_key_id"],
                fields["new_vkey"],
                fields["new_key_id"],
            )
            self._chain = chain_of(chain[0].vkey, [*_rotations(chain), rotation])
            return rotation

    def inclusion(self, index: int, size: int) -> list[bytes]:
        self._check_size(size)
        return inclusion_proof(index, size, self.store.ledger_node)

    def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        self._check_size(new_size)
        return consistency_proof(old_size, new_size, self.store.ledger_node)

    def _check_size(self, size: int) -> None:
        if size > self.size:
            raise ValueError(f"the ledger has only {self._frontier.size} entries")


def _rotations(chain: list[KeyPeriod]) -> list[Rotation]:
    """The rotations a chain was built from (each retired key hands over to the next)."""
    return [
        Rotation(p.retired_at_entry, nxt.generation, p.vkey, p.key_id, nxt.vkey, nxt.key_id)
        for p, nxt in itertools.pairwise(chain)
        if p.retired_at_entry is not None
    ]
