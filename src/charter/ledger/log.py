"""The public record: an append-only Merkle log kept in the store.

Appending writes the leaf and the perfect subtrees it completes (amortised two
rows); roots and proofs read O(log n) stored hashes. Writes that must be on the
record go through `Ledger.write()`, which commits the change and its entry
together, so there is never a change without its entry or an entry without its
change.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec

from charter.domain.clock import Clock, iso, to_ms
from charter.domain.model import Actor
from charter.keys import SigningKey
from charter.ledger.checkpoint import Checkpoint, sign_checkpoint
from charter.ledger.merkle import Frontier, consistency_proof, inclusion_proof
from charter.store.base import LedgerEntry, Store, StoredCheckpoint, Tx

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
            with self.store.transaction() as tx:
                tx.add_checkpoint(stored)
            self._checkpointed = size
            return stored

    def inclusion(self, index: int, size: int) -> list[bytes]:
        self._check_size(size)
        return inclusion_proof(index, size, self.store.ledger_node)

    def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        self._check_size(new_size)
        return consistency_proof(old_size, new_size, self.store.ledger_node)

    def _check_size(self, size: int) -> None:
        if size > self._frontier.size:
            raise ValueError(f"the ledger has only {self._frontier.size} entries")
