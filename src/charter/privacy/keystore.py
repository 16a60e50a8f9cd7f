"""The key store: residents' field keys and the pseudonymisation keys, apart from the data.

It is its own SQLite file (by default `data_dir/keys/keystore.db`), never the
database that holds readings, so that copies and backups of the data never
carry the keys. Destroying a resident's key makes every stored copy of their
encrypted fields unreadable (crypto-shredding). The file is opened with
`secure_delete` and a rollback journal (not WAL), so a destroyed key is
overwritten on disk rather than left in a free page or a log.

Written over the standard library's sqlite3 instead of SQLAlchemy: it is one
small local file with two tables, and the pragmas above are SQLite-specific.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resident_keys (
    resident_id TEXT PRIMARY KEY, key BLOB NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pseudonym_keys (
    version INTEGER PRIMARY KEY, key BLOB NOT NULL, created_at INTEGER NOT NULL,
    retired_at INTEGER);
"""


class KeyStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute("PRAGMA journal_mode=DELETE")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._ciphers: dict[str, AESGCM] = {}

    def __repr__(self) -> str:
        return f"KeyStore({str(self.path)!r}, keys=<hidden>)"

    def close(self) -> None:
        self._db.close()

    # residents' field keys ------------------------------------------------------
    def create_resident_key(self, resident_id: str, at: int) -> None:
        key = AESGCM.generate_key(bit_length=256)
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO resident_keys VALUES (?, ?, ?)", (resident_id, key, at)
            )

    def create_resident_keys(self, resident_ids: list[str], at: int) -> None:
        """Many at once (benchmarks, imports): one transaction."""
        rows = [(r, AESGCM.generate_key(bit_length=256), at) for r in resident_ids]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO resident_keys VALUES (?, ?, ?)", rows)
            self._db.execute("COMMIT")

    def cipher(self, resident_id: str) -> AESGCM | None:
        """The resident's AES-GCM cipher, or None once the key is destroyed."""
        found = self._ciphers.get(resident_id)
        if found is not None:
            return found
        with self._lock:
            row = self._db.execute(
                "SELECT key FROM resident_keys WHERE resident_id = ?", (resident_id,)
            ).fetchone()
            if row is None:
                return None
            found = self._ciphers[resident_id] = AESGCM(bytes(row[0]))
        return found

    def preload(self) -> int:
        """Load every resident's cipher into memory (for a gate serving many residents)."""
        with self._lock:
            rows = self._db.execute("SELECT resident_id, key FROM resident_keys").fetchall()
            for rid, key in rows:
                self._ciphers.setdefault(rid, AESGCM(bytes(key)))
        return len(rows)

    def destroy_resident_key(self, resident_id: str) -> bool:
        """Crypto-shred: the key is overwritten and gone. True if there was one."""
        with self._lock:
            self._ciphers.pop(resident_id, None)
            cur = self._db.execute(
                "DELETE FROM resident_keys WHERE resident_id = ?", (resident_id,)
            )
            return cur.rowcount > 0

    def has_resident_key(self, resident_id: str) -> bool:
        return self.cipher(resident_id) is not None

    # pseudonymisation keys ------------------------------------------------------
    def pseudonym_keys(self) -> list[tuple[int, bytes, int, int | None]]:
        """(version, key, created_at, retired_at), newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT version, key, created_at, retired_at FROM pseudonym_keys "
                "ORDER BY version DESC"
            ).fetchall()
        return [(int(v), bytes(k), int(c), r) for v, k, c, r in rows]

    def add_pseudonym_key(self, at: int) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(MAX(version), 0) FROM pseudonym_keys"
            ).fetchone()
            version = int(row[0]) + 1
            self._db.execute(
                "INSERT INTO pseudonym_keys VALUES (?, ?, ?, NULL)", (version, os.urandom(32), at)
            )
        return version

    def retire_pseudonym_key(self, version: int, at: int) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE pseudonym_keys SET retired_at = ? WHERE version = ?", (at, version)
            )

    def destroy_pseudonym_key(self, version: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM pseudonym_keys WHERE version = ?", (version,))
