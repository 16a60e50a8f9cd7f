"""The key that turns a commenter's address into a hash no one can reverse by guessing."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def load_or_create_secret(path: Path) -> bytes:
    """32 random bytes kept in a file only the owner can read, made on first use."""
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key
