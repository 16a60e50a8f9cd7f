"""The Ledger over the real SQLite store: durable, atomic with its change, and O(log n)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from charter.bootstrap import Platform, build
from charter.domain.clock import FixedClock
from charter.domain.model import Vendor, urn
from charter.ledger.checkpoint import verify_checkpoint
from charter.ledger.merkle import (
    EMPTY_ROOT,
    Frontier,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from charter.ledger.verify import verify
from charter.settings import Settings
from charter.store.sqlite import SqliteStore
from tests.conftest import OPERATOR, START, SampleCity


def fill(platform: Platform, n: int, kind: str = "test.filler") -> None:
    """Append n entries in one transaction."""
    with platform.ledger.write() as w:
        for i in range(n):
            w.record(kind, None, n=i)


def recomputed_root(platform: Platform) -> bytes:
    """The root from the entries alone, independent of any stored hash."""
    frontier = Frontier()
    for entry in platform.store.iter_ledger_entries():
        frontier.append(entry.data)
    return frontier.root()


def rows(platform: Platform, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(platform.settings.database_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def reopen(platform: Platform, clock: FixedClock, **kwargs: Any) -> Platform:
    return build(Settings(data_dir=platform.settings.data_dir), clock=clock, **kwargs)


# --- appending ----------------------------------------------------------------------


def test_an_empty_ledger(platform: Platform) -> None:
    assert platform.ledger.size == 0
    assert platform.ledger.root() == EMPTY_ROOT


def test_record_appends_an_entry_with_kind_time_actor_and_fields(
    platform: Platform, clock: FixedClock
) -> None:
    with platform.ledger.write() as w:
        first = w.record("test.thing", OPERATOR, subject="s", why="because")
        second = w.record("test.other", None, n=2)
    assert (first, second) == (0, 1)
    assert platform.ledger.size == 2
    [a, b] = platform.store.ledger_entries(0, 2)
    assert (a.idx, a.kind) == (0, "test.thing")
    assert msgspec.json.decode(a.data) == {
        "kind": "test.thing",
        "at": "2026-11-29T12:00:00.000Z",
        "actor": {"name": "test-operator", "role": "operator"},
        "subject": "s",
        "why": "because",
    }
    # Sorted keys: the same content always has the same bytes, hence the same leaf.
    assert a.data.startswith(b'{"actor":')
    assert "actor" not in msgspec.json.decode(b.data)
    assert platform.ledger.root() == recomputed_root(platform)


def test_the_root_follows_the_entries(platform: Platform, city: SampleCity) -> None:
    for _ in range(3):
        fill(platform, 7)
        assert platform.ledger.root() == recomputed_root(platform)
    assert platform.ledger.size == platform.store.ledger_size() == 20 + 21


def test_a_checkpoint_is_signed_at_every_multiple_of_the_declared_spacing(
    platform: Platform,
) -> None:
    every = platform.ledger.CHECKPOINT_EVERY
    key = platform.ledger.key

    def signed() -> list[int]:
        return [c.size for c in platform.store.ledger_checkpoints()]

    for _ in range(every - 1):
        fill(platform, 1)
    assert signed() == []
    fill(platform, 1)
    assert signed() == [every]
    cp = verify_checkpoint(platform.store.ledger_checkpoints()[0].note, key.name, key.public_key)
    assert (cp.size, cp.root) == (every, platform.ledger.root())
    # A checkpoint asked for in between comes on top; the spacing does not move.
    fill(platform, 10)
    platform.ledger.checkpoint()
    fill(platform, every - 10)
    assert signed() == [every, every + 10, 2 * every]
    # A large write signs every multiple it passes, in its own transaction.
    fill(platform, 3 * every + 5)
    assert signed() == [every, every + 10, 2 * every, 3 * every, 4 * every, 5 * every]
    roots = {c.size: c.root for c in platform.store.ledger_checkpoints()}
    frontier = Frontier()
    for entry in platform.store.iter_ledger_entries():
        frontier.append(entry.data)
        if frontier.size in roots:
            assert roots[frontier.size] == frontier.root()
    # A failed write signs nothing.
    before = signed()
    with pytest.raises(Boom), platform.ledger.write() as w:
        for i in range(2 * every):
            w.record("test.doomed", None, n=i)
        raise Boom
    assert signed() == before


# --- durability -------------------------------------------------------------------------


def test_the_ledger_survives_reopening(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    fill(platform, 13)
    note = platform.ledger.checkpoint().note
    size, root = platform.ledger.size, platform.ledger.root()
    platform.close()

    again = reopen(platform, clock)
    try:
        assert again.ledger.size == size == 33
        assert again.ledger.root() == root
        # The same signing key, found in the data directory, and the same checkpoint.
        assert again.ledger.key.public_key.public_bytes_raw() == (
            platform.ledger.key.public_key.public_bytes_raw()
        )
        assert again.ledger.checkpoint().note == note
        # Appending continues where the log left off.
        fill(again, 5)
        assert again.ledger.size == 38
        assert again.ledger.root() == recomputed_root(again)
        key = again.ledger.key
        assert verify(again.store, key.name, key.public_key).ok
        cp = verify_checkpoint(again.ledger.checkpoint().note, key.name, key.public_key)
        proof = again.ledger.consistency(size, cp.size)
        assert verify_consistency(size, cp.size, root, cp.root, proof)
    finally:
        again.close()


def test_two_platforms_on_one_data_dir_agree(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    other = reopen(platform, clock)
    try:
        assert (other.ledger.size, other.ledger.root()) == (
            platform.ledger.size,
            platform.ledger.root(),
        )
        e = platform.store.ledger_entries(5, 6)[0]
        proof = other.ledger.inclusion(5, other.ledger.size)
        assert verify_inclusion(
            leaf_hash(e.data), 5, other.ledger.size, proof, platform.ledger.root()
        )
    finally:
        other.close()


# --- atomicity ----------------------------------------------------------------------------


class Boom(Exception):
    """Raised inside a ledger transaction to abort it."""


def test_a_failed_transaction_leaves_no_trace(platform: Platform, city: SampleCity) -> None:
    size, root = platform.ledger.size, platform.ledger.root()
    stranger = Vendor(id=urn("Vendor", "half-done"), name="Half", jurisdiction="NL")
    with pytest.raises(Boom), platform.ledger.write() as w:
        w.tx.put_vendor(stranger, w.now_ms)
        assert w.record("vendor.registered", OPERATOR, subject=stranger.id, why="x") == size
        w.record("test.second", None)
        raise Boom
    assert platform.ledger.size == size
    assert platform.ledger.root() == root
    assert platform.store.ledger_size() == size
    assert platform.store.get_vendor(stranger.id) is None
    assert rows(platform, "SELECT COUNT(*) FROM ledger_entries WHERE idx >= ?", size) == [(0,)]
    assert rows(
        platform, "SELECT COUNT(*) FROM ledger_nodes WHERE level = 0 AND idx >= ?", size
    ) == [(0,)]
    with pytest.raises(KeyError):
        platform.store.ledger_node(0, size)

    # The next entry takes the index the failed one would have had.
    with platform.ledger.write() as w:
        assert w.record("test.after", None) == size
    assert platform.ledger.size == size + 1
    assert platform.ledger.root() == recomputed_root(platform)
    key = platform.ledger.key
    assert verify(platform.store, key.name, key.public_key).ok


def test_a_store_error_inside_the_transaction_rolls_back_the_entry(
    platform: Platform, city: SampleCity
) -> None:
    signed = platform.ledger.checkpoint()
    size, root = platform.ledger.size, platform.ledger.root()
    with pytest.raises(IntegrityError), platform.ledger.write() as w:
        w.record("test.doomed", OPERATOR, why="x")
        w.tx.add_checkpoint(signed)  # a second row for the same size: a key violation
    assert (platform.ledger.size, platform.ledger.root()) == (size, root)
    assert platform.store.ledger_size() == size
    assert platform.ledger.checkpoint() == signed


def test_a_failed_registry_change_is_not_on_the_ledger(
    platform: Platform, city: SampleCity, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = platform.ledger.size

    def explode(*_a: Any, **_k: Any) -> None:
        raise Boom

    # The change is written, then its entry fails: neither may remain.
    monkeypatch.setattr("charter.ledger.log.LedgerTx.record", explode)
    vendor = Vendor(id=urn("Vendor", "late"), name="Late", jurisdiction="NL")
    with pytest.raises(Boom):
        platform.registry.register_vendor(vendor, OPERATOR)
    monkeypatch.undo()
    assert platform.store.get_vendor(vendor.id) is None
    assert platform.ledger.size == platform.store.ledger_size() == size
    platform.registry.register_vendor(vendor, OPERATOR)
    assert platform.ledger.size == size + 1
    assert platform.ledger.root() == recomputed_root(platform)


# --- cost: appends and proofs read O(log n) stored hashes, never the whole log --------------


@contextmanager
def counting(store: Any) -> Iterator[dict[str, list[Any]]]:
    """Count node reads, entry reads and SQL statements on the ledger tables."""
    seen: dict[str, list[Any]] = {"nodes": [], "entries": [], "sql": []}
    real_node, real_entries = store.ledger_node, store.ledger_entries

    def node(level: int, idx: int) -> bytes:
        seen["nodes"].append((level, idx))
        return bytes(real_node(level, idx))

    def entries(start: int, end: int) -> Any:
        seen["entries"].append((start, end))
        return real_entries(start, end)

    def statement(_c: Any, _cur: Any, sql: str, *_rest: Any) -> None:
        if "ledger_" in sql:
            seen["sql"].append(" ".join(sql.split()))

    store.ledger_node, store.ledger_entries = node, entries
    event.listen(store.engine, "before_cursor_execute", statement)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", statement)
        del store.ledger_node, store.ledger_entries


SIZES = [64, 1000, 1537]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[int], Platform]]:
    """Platforms with ledgers of the sizes in SIZES, built once for the module."""
    made: dict[int, Platform] = {}

    def get(n: int) -> Platform:
        if n not in made:
            d = tmp_path_factory.mktemp(f"ledger{n}")
            p = build(Settings(data_dir=d), clock=FixedClock(START))
            fill(p, n)
            made[n] = p
        return made[n]

    yield get
    for p in made.values():
        p.close()


def log2_bound(n: int) -> int:
    return 2 * n.bit_length()


@pytest.mark.parametrize("n", SIZES)
def test_appending_reads_no_stored_hash_and_writes_an_entry_and_its_nodes(
    big: Callable[[int], Platform], n: int
) -> None:
    p = big(n)
    size = p.ledger.size
    with counting(p.store) as seen:
        with p.ledger.write() as w:
            w.record("test.one", None)
        p.ledger.root()
        p.ledger.checkpoint()
    assert seen["nodes"] == []
    assert seen["entries"] == []
    # One INSERT for the entry and one (executemany) for the nodes it completed; the
    # checkpoint looks up the latest signed one and adds its own. Nothing reads the log
    # but its size (the highest index: an index look-up), which tells whether another
    # process appended meanwhile.
    sql = seen["sql"]
    assert len([s for s in sql if s.startswith("INSERT INTO ledger_entries")]) == 1
    assert len([s for s in sql if s.startswith("INSERT INTO ledger_nodes")]) == 1
    reads = [s for s in sql if s.startswith("SELECT") and "max(ledger_entries.idx)" not in s]
    assert all("ledger_entries" not in s and "ledger_nodes" not in s for s in reads), reads
    assert p.ledger.size == size + 1
    # Rows: one per perfect subtree, 2n - popcount(n) in all: nothing rebuilt, nothing twice.
    total = p.ledger.size
    assert rows(p, "SELECT COUNT(*) FROM ledger_nodes") == [(2 * total - total.bit_count(),)]


@pytest.mark.parametrize("n", SIZES)
def test_a_proof_reads_a_logarithmic_number_of_stored_hashes(
    big: Callable[[int], Platform], n: int
) -> None:
    p = big(n)
    size = p.ledger.size
    root = p.ledger.root()
    most = 0
    for index in sorted({0, 1, size // 3, size // 2, size - 2, size - 1}):
        with counting(p.store) as seen:
            proof = p.ledger.inclusion(index, size)
        assert len(seen["nodes"]) <= log2_bound(size), (index, seen["nodes"])
        assert seen["entries"] == []
        most = max(most, len(seen["nodes"]))
        entry = p.store.ledger_entries(index, index + 1)[0]
        assert verify_inclusion(leaf_hash(entry.data), index, size, proof, root)
    assert most < size // 8

    for old in sorted({1, 7, size // 2, size - 1}):
        with counting(p.store) as seen:
            p.ledger.consistency(old, size)
        assert len(seen["nodes"]) <= log2_bound(size), (old, seen["nodes"])
        assert seen["entries"] == []


@pytest.mark.parametrize("n", SIZES)
def test_reopening_reads_one_hash_per_set_bit_of_the_size(
    big: Callable[[int], Platform], n: int
) -> None:
    p = big(n)
    store = SqliteStore(p.settings.database_path)
    try:
        with counting(store) as seen:
            again = build(p.settings, store=store, clock=FixedClock(p.clock.now()))
            assert again.ledger.root() == p.ledger.root()
        assert len(seen["nodes"]) == p.ledger.size.bit_count()
        assert seen["entries"] == []
    finally:
        store.close()
