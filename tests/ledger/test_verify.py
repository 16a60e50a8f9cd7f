"""`verify` and `charter ledger verify`: an honest ledger passes; tampering is named."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from charter.bootstrap import Platform, build
from charter.domain.clock import FixedClock
from charter.ledger.checkpoint import Checkpoint, sign_checkpoint, verify_checkpoint
from charter.ledger.merkle import Frontier
from charter.ledger.verify import Report, verify
from charter.settings import Settings
from tests.conftest import START, SampleCity

CHARTER = Path(sys.executable).with_name("charter")


def check(platform: Platform) -> Report:
    key = platform.ledger.key
    return verify(platform.store, key.name, key.public_key)


@contextmanager
def database(path: Path) -> Iterator[sqlite3.Connection]:
    """The SQLite file itself, as someone with access to the disk would open it."""
    conn = sqlite3.connect(path)
    try:
        with conn:  # commits on success
            yield conn
    finally:
        conn.close()


def entry_data(conn: sqlite3.Connection, idx: int) -> bytes:
    return bytes(
        conn.execute("SELECT data FROM ledger_entries WHERE idx = ?", (idx,)).fetchone()[0]
    )


def alter(data: bytes) -> bytes:
    """A plausible forgery: the same entry with a different reason."""
    assert b'"why":"' in data
    return data.replace(b'"why":"', b'"why":"(amended) ', 1)


def wheres(report: Report) -> list[str]:
    return [p.where for p in report.problems]


@pytest.fixture
def ledger(platform: Platform, city: SampleCity) -> Platform:
    """40 entries with signed checkpoints at 20, 30 and 40."""
    platform.ledger.checkpoint()
    city.grow_ledger(10)
    platform.ledger.checkpoint()
    city.grow_ledger(10)
    platform.ledger.checkpoint()
    assert platform.ledger.size == 40
    return platform


def test_an_honest_ledger_verifies(ledger: Platform) -> None:
    report = check(ledger)
    assert report.ok, report.problems
    assert report.problems == []
    assert (report.size, report.root, report.checkpoints) == (40, ledger.ledger.root(), 3)


def test_an_empty_ledger_verifies(platform: Platform) -> None:
    platform.ledger.checkpoint()
    report = check(platform)
    assert report.ok and (report.size, report.checkpoints) == (0, 1)


@pytest.mark.parametrize(("idx", "named"), [(7, [20, 30, 40]), (25, [30, 40]), (39, [40])])
def test_an_altered_entry_is_named(ledger: Platform, idx: int, named: list[int]) -> None:
    with database(ledger.settings.database_path) as db:
        db.execute(
            "UPDATE ledger_entries SET data = ? WHERE idx = ?",
            (alter(entry_data(db, idx)), idx),
        )
    report = check(ledger)
    assert not report.ok
    entries = [p for p in report.problems if p.where.startswith("entry ")]
    assert [p.where for p in entries] == [f"entry {idx}"]
    assert "altered" in entries[0].what
    # The signed checkpoints that cover it no longer match; earlier ones still do.
    checkpoints = [w for w in wheres(report) if w.startswith("checkpoint")]
    assert checkpoints == [f"checkpoint at size {s}" for s in named]


@pytest.mark.parametrize(("level", "idx"), [(1, 0), (2, 3), (3, 4), (5, 0)])
def test_an_altered_hash_row_is_named(ledger: Platform, level: int, idx: int) -> None:
    with database(ledger.settings.database_path) as db:
        changed = db.execute(
            "UPDATE ledger_nodes SET hash = ? WHERE level = ? AND idx = ?",
            (b"\x42" * 32, level, idx),
        ).rowcount
    assert changed == 1
    report = check(ledger)
    assert wheres(report) == [f"node ({level}, {idx})"]
    assert "does not match" in report.problems[0].what


def test_a_deleted_hash_row_is_named(ledger: Platform) -> None:
    with database(ledger.settings.database_path) as db:
        db.execute("DELETE FROM ledger_nodes WHERE level = 2 AND idx = 5")
    report = check(ledger)
    assert wheres(report) == ["node (2, 5)"]
    assert "missing" in report.problems[0].what


@pytest.mark.parametrize("with_nodes", [False, True], ids=["entries", "entries-and-nodes"])
def test_removed_last_entries_are_named(ledger: Platform, with_nodes: bool) -> None:
    with database(ledger.settings.database_path) as db:
        db.execute("DELETE FROM ledger_entries WHERE idx >= 37")
        if with_nodes:
            # Every perfect subtree that covers a removed leaf goes too.
            for level in range(6):
                db.execute(
                    "DELETE FROM ledger_nodes WHERE level = ? AND (idx + 1) * (1 << ?) > 37",
                    (level, level),
                )
    report = check(ledger)
    assert report.size == 37
    assert wheres(report) == ["checkpoint at size 40"]
    assert "removed" in report.problems[0].what
    assert "37" in report.problems[0].what


def test_a_removed_entry_in_the_middle_is_named(ledger: Platform) -> None:
    with database(ledger.settings.database_path) as db:
        db.execute("DELETE FROM ledger_entries WHERE idx = 12")
    report = check(ledger)
    assert not report.ok
    assert report.problems[0].where == "entry 12"
    assert "missing" in report.problems[0].what


def test_a_consistently_rewritten_history_is_caught_by_its_checkpoints(ledger: Platform) -> None:
    with database(ledger.settings.database_path) as db:
        data = [bytes(d) for (d,) in db.execute("SELECT data FROM ledger_entries ORDER BY idx")]
        data[25] = alter(data[25])
        db.execute("UPDATE ledger_entries SET data = ? WHERE idx = 25", (data[25],))
        # Recompute every stored hash so that the tree itself is consistent again.
        db.execute("DELETE FROM ledger_nodes")
        frontier = Frontier()
        for d in data:
            db.executemany(
                "INSERT INTO ledger_nodes (level, idx, hash) VALUES (?, ?, ?)", frontier.append(d)
            )
    report = check(ledger)
    # No entry and no hash looks wrong; only signed roots that covered entry 25 disagree.
    assert wheres(report) == ["checkpoint at size 30", "checkpoint at size 40"]
    assert all("rewritten" in p.what for p in report.problems)
    assert report.root == frontier.root() != ledger.ledger.root()


def test_a_checkpoint_signed_by_another_key_is_named(ledger: Platform) -> None:
    stranger = Ed25519PrivateKey.generate()
    key = ledger.ledger.key
    with database(ledger.settings.database_path) as db:
        root = bytes(
            db.execute("SELECT root FROM ledger_checkpoints WHERE size = 30").fetchone()[0]
        )
        forged = sign_checkpoint(Checkpoint(ledger.ledger.origin, 30, root), key.name, stranger)
        db.execute("UPDATE ledger_checkpoints SET note = ? WHERE size = 30", (forged,))
    report = check(ledger)
    assert wheres(report) == ["checkpoint at size 30"]
    assert "signature" in report.problems[0].what


def test_a_checkpoint_row_that_differs_from_its_note_is_named(ledger: Platform) -> None:
    with database(ledger.settings.database_path) as db:
        db.execute("UPDATE ledger_checkpoints SET root = ? WHERE size = 20", (b"\x00" * 32,))
    report = check(ledger)
    assert wheres(report) == ["checkpoint at size 20"]
    assert "differs from its signed note" in report.problems[0].what


@pytest.fixture(scope="module")
def long_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1020 entries, signed every 64 up to 960, the rest not yet: built once, copied per test."""
    d = tmp_path_factory.mktemp("long") / "data"
    p = build(Settings(data_dir=d), clock=FixedClock(START))
    try:
        for n in (990, 30):
            with p.ledger.write() as w:
                for i in range(n):
                    w.record("test.filler", None, n=i)
        assert [c.size for c in p.store.ledger_checkpoints()] == list(range(64, 961, 64))
        assert check(p).ok
    finally:
        p.close()
    return d


@pytest.mark.parametrize("hole", [10, 998, 999, 1000, 1010])
def test_a_hole_anywhere_in_a_long_ledger_is_named(
    long_ledger: Path, tmp_path: Path, hole: int
) -> None:
    d = tmp_path / "data"
    shutil.copytree(long_ledger, d)
    with database(d / "charter.db") as db:
        db.execute("DELETE FROM ledger_entries WHERE idx = ?", (hole,))
    p = build(Settings(data_dir=d), clock=FixedClock(START))
    try:
        report = check(p)
    finally:
        p.close()
    # Entries after the hole are still stored: the hole must not pass for the end of the log.
    assert not report.ok, f"verify reported OK with {report.size} of 1019 stored entries"
    assert report.problems[0].where == f"entry {hole}"
    assert "missing" in report.problems[0].what


# --- the real command ---------------------------------------------------------------------


def charter(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert CHARTER.exists(), CHARTER
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTER_")}
    env["COLUMNS"] = "200"  # keep rich from wrapping a problem over two lines
    return subprocess.run(
        [str(CHARTER), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory as the CLI finds it: database and ledger key under D."""
    d = tmp_path / "charter-data"
    p = build(Settings(data_dir=d))  # the system clock, the key in d/keys
    try:
        city = SampleCity(p)
        p.ledger.checkpoint()
        city.grow_ledger(5)
        p.ledger.checkpoint()
        assert p.ledger.size == 25
    finally:
        p.close()
    return d


def test_the_command_passes_an_honest_ledger(data_dir: Path, tmp_path: Path) -> None:
    r = charter("ledger", "verify", "--data-dir", str(data_dir), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ledger OK" in r.stdout
    assert "25 entries, 2 checkpoints" in r.stdout
    assert "FAIL" not in r.stdout


def test_the_command_names_an_altered_entry_and_fails(data_dir: Path, tmp_path: Path) -> None:
    with database(data_dir / "charter.db") as db:
        db.execute("UPDATE ledger_entries SET data = ? WHERE idx = 3", (alter(entry_data(db, 3)),))
    r = charter("ledger", "verify", "--data-dir", str(data_dir), cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL entry 3: its data does not match its leaf hash: altered" in r.stdout
    assert "ledger OK" not in r.stdout
    assert not any(
        line.startswith("FAIL entry") and "entry 3" not in line for line in r.stdout.splitlines()
    )


def test_the_command_names_an_altered_hash(data_dir: Path, tmp_path: Path) -> None:
    with database(data_dir / "charter.db") as db:
        db.execute("UPDATE ledger_nodes SET hash = zeroblob(32) WHERE level = 2 AND idx = 1")
    r = charter("ledger", "verify", "--data-dir", str(data_dir), cwd=tmp_path)
    assert r.returncode == 1
    assert "FAIL node (2, 1)" in r.stdout


def test_the_command_names_a_missing_hash_rather_than_crashing(
    data_dir: Path, tmp_path: Path
) -> None:
    # 25 = 16 + 8 + 1: node (4, 0) is the left edge of the tree, needed to append or sign.
    with database(data_dir / "charter.db") as db:
        db.execute("DELETE FROM ledger_nodes WHERE level = 4 AND idx = 0")
    r = charter("ledger", "verify", "--data-dir", str(data_dir), cwd=tmp_path)
    assert r.returncode == 1
    assert "Traceback" not in r.stdout + r.stderr
    assert "FAIL node (4, 0): missing" in r.stdout


def test_the_checkpoint_command_signs_with_the_same_key(data_dir: Path, tmp_path: Path) -> None:
    r = charter("ledger", "checkpoint", "--data-dir", str(data_dir), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    p = build(Settings(data_dir=data_dir))
    try:
        key = p.ledger.key
        cp = verify_checkpoint(r.stdout, key.name, key.public_key)
        assert (cp.size, cp.root) == (25, p.ledger.root())
    finally:
        p.close()
