"""The public record: an append-only Merkle log kept in the store.

Appending writes the leaf and the perfect subtrees it completes (amortised two
rows); roots and proofs read O(log n) stored hashes. Writes that must be on the
record go through `Ledger.write()`, which commits the change and its entry
together, so there is never a change without its entry or an entry without its
change.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec

from charter.domain.clock import Clock, iso, to_ms
from charter.domain.model import Actor
from charter.keys import SigningKey
from charter.ledger.checkpoint import Checkpoint, key_id, sign_checkpoint, signer_ids, vkey
from charter.ledger.keychain import KEY_ROTATED, KeyPeriod, Rotation, chain_of
from charter.ledger.merkle import Frontier, consistency_proof, inclusion_proof
from charter.store.base import LedgerEntry, Store, StoredCheckpoint, Tx
from charter.store.failure import storage_unavailable

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder(order="sorted").encode


class LedgerTx:
    """A store transaction that can also append to the ledger."""

    def __init__(self, tx: Tx, frontier: Frontier, now_ms: int) -> None:
        self.tx = tx
        self.now_ms = now_ms
        self._frontier = frontier

    def record(self, kind: str, actor: Actor | None, **fields: Any) -> int:
        """Append an entry; returns its index. Entries never hold personal data."""
        idx = self._frontier.size
        body: dict[str, Any] = {"kind": kind, "at": iso(self.now_ms), **fields}
        if actor is not None:
            body["actor"] = {"name": actor.name, "role": actor.role}
        data = _encode(body)
        nodes = self._frontier.append(data)
        self.tx.append_ledger(LedgerEntry(idx, self.now_ms, kind, data), nodes)
        return idx


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
    # Sign a checkpoint at least every this many entries, so a reader never
    # waits long for a signed root that covers a change.
    CHECKPOINT_EVERY = 64

    def __init__(self, store: Store, key: SigningKey, origin: str, clock: Clock) -> None:
        self.store, self.key, self.origin, self.clock = store, key, origin, clock
        self._lock = threading.Lock()
        self._frontier = Frontier.from_nodes(store.ledger_size(), store.ledger_node)
        latest = store.latest_checkpoint()
        self._checkpointed = latest.size if latest else 0
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

    @property
    def size(self) -> int:
        return self._frontier.size

    def root(self) -> bytes:
        return self._frontier.root()

    @contextmanager
    def write(self) -> Iterator[LedgerTx]:
        with self._lock:
            frontier = self._frontier.copy()
            with self.store.transaction() as tx:
                yield LedgerTx(tx, frontier, to_ms(self.clock.now()))
            self._frontier = frontier
        if frontier.size - self._checkpointed >= self.CHECKPOINT_EVERY:
            self.checkpoint()

    def checkpoint(self) -> StoredCheckpoint:
        """The newest signed checkpoint, signing a new one if the log has grown."""
        with self._lock:
            latest = self.store.latest_checkpoint()
            size = self._frontier.size
            if latest is not None and latest.size == size:
                return latest
            root = self._frontier.root()
            note = sign_checkpoint(
                Checkpoint(self.origin, size, root), self.key.name, self.key.private_key
            )
            stored = StoredCheckpoint(size, to_ms(self.clock.now()), root, note)
            try:
                with self.store.transaction() as tx:
                    tx.add_checkpoint(stored)
            except Exception as e:
                if not storage_unavailable(e):
                    raise
                # The disk is full: the checkpoint is still true and signed (Ed25519
                # is deterministic: the same note is stored once there is room).
                log.warning("checkpoint of size %d not stored: storage unavailable", size)
                return stored
            self._checkpointed = size
            return stored

    def chain(self) -> list[KeyPeriod]:
        """Every signing key so far with the sizes it signs, derived from the entries."""
        with self._lock:
            return list(self._chain_locked())

    def _chain_locked(self) -> list[KeyPeriod]:
        if self._chain is None:
            rotations = [
                Rotation.from_entry(e.idx, e.data)
                for e in self.store.iter_ledger_entries()
                if e.kind == KEY_ROTATED and e.idx < self._frontier.size
            ]
            first = rotations[0].old_vkey if rotations else vkey(self.key.name, self.key.public_key)
            self._chain = chain_of(first, rotations)
        return self._chain

    def rotate(self, new_key: SigningKey, actor: Actor | None, why: str) -> Rotation:
        """Hand over to `new_key`: the entry, and the old key's checkpoint covering it.

        Both are committed in one transaction; from then on checkpoints are
        signed by `new_key`. Keeping the new private key safe is the caller's
        part (see `charter.ledger.rotation`).
        """
        if new_key.name != self.key.name:
            raise ValueError("the new key must keep the ledger's key name")
        with self._lock:
            old = self.key
            chain = self._chain_locked()
            frontier = self._frontier.copy()
            now = to_ms(self.clock.now())
            fields = Rotation.fields(
                len(chain), (old.name, old.public_key), (new_key.name, new_key.public_key)
            )
            with self.store.transaction() as tx:
                idx = LedgerTx(tx, frontier, now).record(KEY_ROTATED, actor, **fields, why=why)
                root = frontier.root()
                cp = Checkpoint(self.origin, frontier.size, root)
                note = sign_checkpoint(cp, old.name, old.private_key)
                tx.add_checkpoint(StoredCheckpoint(frontier.size, now, root, note))
            self._frontier = frontier
            self._checkpointed = frontier.size
            self.key = new_key
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
        if size > self._frontier.size:
            raise ValueError(f"the ledger has only {self._frontier.size} entries")


def _rotations(chain: list[KeyPeriod]) -> list[Rotation]:
    """The rotations a chain was built from (each retired key hands over to the next)."""
    return [
        Rotation(p.retired_at_entry, nxt.generation, p.vkey, p.key_id, nxt.vkey, nxt.key_id)
        for p, nxt in itertools.pairwise(chain)
        if p.retired_at_entry is not None
    ]
