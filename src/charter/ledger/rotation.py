"""Rotating the ledger's signing key on disk, so that a crash never leaves no key.

The order is what makes it safe:

1. the new private key is written beside the current one (``ledger.pem.next``:
   a temporary file, fsynced, renamed, directory fsynced);
2. the old key's public half is kept as ``ledger-retired-<generation>.pub``;
3. the ledger commits the ``ledger.key_rotated`` entry and the old key's
   checkpoint covering it, in one transaction;
4. ``ledger.pem.next`` is renamed over ``ledger.pem`` (and the directory fsynced).

A crash before 3 leaves the old key current and a stale ``.next`` that
`load_ledger_key` removes; a crash between 3 and 4 leaves the ledger saying the
new key is current, and `load_ledger_key` finishes the rename. The old private
key is gone once 4 is done: only its public key is kept.

Rotating is a two-person action (`rotate_ledger_key`); `handler` is what an
approved action runs.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from charter.domain.model import Actor
from charter.keys import SigningKey, fsync_dir, load, load_or_create, write_private, write_public
from charter.ledger.checkpoint import key_id
from charter.ledger.log import Ledger, current_key_id
from charter.store.base import Store

__all__ = [
    "handler",
    "load_ledger_key",
    "pending_path",
    "reload_ledger_key",
    "retired_path",
    "rotate_key",
]

_ROTATING = threading.Lock()


def pending_path(path: Path) -> Path:
    return path.with_name(path.name + ".next")


def retired_path(path: Path, generation: int) -> Path:
    """Where the public key of a retired key (by its generation; the first is 0) is kept."""
    return path.with_name(f"{path.stem}-retired-{generation}.pub")


def load_ledger_key(path: Path, name: str, store: Store) -> SigningKey:
    """The current signing key, finishing or discarding a rotation a crash interrupted.

    Waits for a rotation another process is carrying out (its pending key is
    not a crashed one), and makes the first key once if two processes start together.
    """
    with _rotating(path):
        pending = pending_path(path)
        if pending.exists():
            new = load(pending, name)
            if current_key_id(store, name) == key_id(name, new.public_key):
                os.replace(pending, path)  # the rotation was committed: finish it
                fsync_dir(path.parent)
                return new
            pending.unlink()  # the rotation never reached the ledger
            fsync_dir(path.parent)
        return load_or_create(path, name)


def reload_ledger_key(path: Path, name: str, store: Store) -> SigningKey:
    """The current key after another process rotated it (the ledger already says so).

    Unlike `load_ledger_key` it never discards a pending key: that may be a
    rotation another process is committing right now.
    """
    pending = pending_path(path)
    if pending.exists():
        new = load(pending, name)
        if current_key_id(store, name) == key_id(name, new.public_key):
            _install(path, new)
            return new
    return load(path, name)


def _install(path: Path, new: SigningKey) -> None:
    """Make `new` the key in `path`, whichever process gets there first."""
    try:
        os.replace(pending_path(path), path)
    except FileNotFoundError:
        # Another process finished the rename, or a restart discarded the
        # pending file before the commit: write the key again if needed.
        if not path.exists() or load(path, new.name).public_key_b64() != new.public_key_b64():
            write_private(path, new)
    fsync_dir(path.parent)


@contextmanager
def _rotating(path: Path) -> Iterator[None]:
    """One rotation at a time, in this process and across processes sharing the directory.

    Without it a second process's pending key could be renamed over the first's.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with _ROTATING, open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def rotate_key(ledger: Ledger, path: Path, actor: Actor | None, why: str) -> dict[str, Any]:
    """Make a new key, hand over to it on the ledger, and retire the old private key."""
    with _rotating(path):
        old = ledger.key
        new = SigningKey(old.name, Ed25519PrivateKey.generate())
        pending = pending_path(path)
        write_private(pending, new)
        generation = len(ledger.chain()) - 1
        write_public(retired_path(path, generation), old.public_key)
        try:
            rotation = ledger.rotate(new, actor, why)
        except BaseException:
            pending.unlink(missing_ok=True)  # nothing was handed over
            raise
        _install(path, new)
    return {
        "rotated_at_entry": rotation.index,
        "generation": rotation.generation,
        "old_key_id": rotation.old_key_id,
        "new_key_id": rotation.new_key_id,
        "vkey": rotation.new_vkey,
    }


def handler(ledger: Ledger, path: Path) -> Callable[[dict[str, Any], Actor, str], dict[str, Any]]:
    """What an approved `rotate_ledger_key` action runs."""

    def rotate(_params: dict[str, Any], actor: Actor, why: str) -> dict[str, Any]:
        return rotate_key(ledger, path, actor, why)

    return rotate
