"""Several processes append to one ledger: two Platforms over one store, SQLite and PostgreSQL.

Each Platform stands for a process (the server, a CLI command, a worker): its
own store connections, its own in-memory frontier and key. Appends are
serialised by the store, and a writer whose frontier another moved reads it
again, so entries, checkpoints and the key agree whichever process wrote.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from charter.api.app import create_app
from charter.bootstrap import Platform, build, ledger_key_path
from charter.domain.clock import FixedClock
from charter.ledger.checkpoint import verify_checkpoint
from charter.ledger.log import Ledger, LedgerKeyMismatch
from charter.ledger.merkle import Frontier
from charter.ledger.rotation import rotate_key
from charter.ledger.verify import verify
from charter.settings import Settings
from tests.conftest import OPERATOR
from tests.services import pg_database


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    d = tmp_path / "data"
    if request.param == "sqlite":
        yield Settings(data_dir=d)
    else:
        with pg_database() as url:
            yield Settings(data_dir=d, database_url=url)


@pytest.fixture
def pair(settings: Settings, clock: FixedClock) -> Iterator[tuple[Platform, Platform]]:
    """Two platforms, as two processes would build them, over one store and data directory."""
    a = build(settings, clock=clock)
    b = build(settings, clock=clock)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def fill(p: Platform, n: int, who: str) -> None:
    with p.ledger.write() as w:
        for i in range(n):
            w.record("test.filler", None, n=i, by=who)


def recomputed(p: Platform) -> tuple[int, bytes]:
    frontier = Frontier()
    for entry in p.store.iter_ledger_entries():
        frontier.append(entry.data)
    return frontier.size, frontier.root()


def assert_sound(p: Platform) -> None:
    key = p.ledger.key
    report = verify(p.store, key.name, key.public_key)
    assert report.ok, report.problems
    every = p.ledger.CHECKPOINT_EVERY
    sizes = [c.size for c in p.store.ledger_checkpoints()]
    assert set(range(every, report.size + 1, every)) <= set(sizes)


def test_interleaved_writes_from_two_processes_make_one_ledger(
    pair: tuple[Platform, Platform],
) -> None:
    a, b = pair
    # Sizes chosen to cross the checkpoint spacing from either side.
    for n_a, n_b in [(3, 2), (1, 60), (7, 1), (64, 5), (30, 40)]:
        fill(a, n_a, "a")  # before the fix: UNIQUE constraint failed: ledger_entries.idx
        fill(b, n_b, "b")
    total = sum(x + y for x, y in [(3, 2), (1, 60), (7, 1), (64, 5), (30, 40)])
    assert a.ledger.size == b.ledger.size == total
    assert a.ledger.root() == b.ledger.root() == recomputed(a)[1]
    assert_sound(a)


def test_checkpoints_from_two_processes_never_collide(pair: tuple[Platform, Platform]) -> None:
    a, b = pair
    fill(a, 10, "a")
    first = b.ledger.checkpoint()  # b never wrote: it must still sign a's 10 entries
    assert first.size == 10
    assert a.ledger.checkpoint() == first  # not a second row of size 10
    fill(b, 3, "b")
    second = a.ledger.checkpoint()  # before the fix: a signed its stale size again
    assert second.size == 13
    cp = verify_checkpoint(second.note, a.ledger.key.name, a.ledger.key.public_key)
    assert cp.root == b.ledger.root()
    assert_sound(b)


def test_what_one_process_shows_follows_the_other(pair: tuple[Platform, Platform]) -> None:
    a, b = pair
    client = TestClient(create_app(a))
    fill(a, 2, "a")
    assert client.get("/stats").json()["ledger_size"] == 2
    fill(b, 5, "b")
    assert client.get("/stats").json()["ledger_size"] == 7
    assert client.get("/health").json()["ledger_size"] == 7
    assert client.get("/ledger/checkpoint").text.split("\n")[1] == "7"
    proof = client.get("/ledger/proof/inclusion", params={"index": 6, "size": 7})
    assert proof.status_code == 200


def test_concurrent_writers_in_two_processes(pair: tuple[Platform, Platform]) -> None:
    a, b = pair
    errors: list[BaseException] = []

    def run(p: Platform, who: str) -> None:
        try:
            for _ in range(40):
                fill(p, 3, who)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(p, w)) for p, w in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert a.ledger.size == b.ledger.size == 240
    assert a.ledger.root() == b.ledger.root() == recomputed(b)[1]
    assert_sound(a)


def test_a_key_rotated_by_one_process_is_used_by_the_other(
    pair: tuple[Platform, Platform], settings: Settings
) -> None:
    a, b = pair
    fill(a, 5, "a")
    old = b.ledger.key.public_key_b64()
    rotate_key(a.ledger, ledger_key_path(settings), OPERATOR, "scheduled")
    new = a.ledger.key
    assert new.public_key_b64() != old
    # b learns of the rotation through the store at its next write, and signs with the new key.
    fill(b, b.ledger.CHECKPOINT_EVERY, "b")
    assert b.ledger.key.public_key_b64() == new.public_key_b64()
    latest = b.store.latest_checkpoint()
    assert latest is not None and latest.size == b.ledger.CHECKPOINT_EVERY
    verify_checkpoint(latest.note, new.name, new.public_key)
    assert b.ledger.checkpoint().size == b.ledger.size
    assert [k.key_id for k in b.ledger.chain()] == [k.key_id for k in a.ledger.chain()]
    assert len(b.ledger.chain()) == 2
    first = a.ledger.chain()[0].public()
    assert verify(a.store, *first).ok


def test_a_process_that_cannot_find_the_rotated_key_refuses_to_sign(
    pair: tuple[Platform, Platform], settings: Settings, clock: FixedClock
) -> None:
    a, b = pair
    fill(a, 5, "a")
    # A process whose key lives elsewhere (another machine): it cannot follow a rotation.
    stranded = Ledger(b.store, b.ledger.key, settings.ledger_origin, clock)
    rotate_key(a.ledger, ledger_key_path(settings), OPERATOR, "scheduled")
    size = a.ledger.size
    for _ in range(2):  # and again: it never gets used to the retired key
        with pytest.raises(LedgerKeyMismatch, match="another process rotated"), stranded.write():
            pass
    fill(a, 1, "a")
    with pytest.raises(LedgerKeyMismatch):
        stranded.checkpoint()
    size += 1
    assert a.ledger.size == size  # nothing was signed with the retired key
    assert stranded.size == size  # and reading the ledger still works
    assert verify(a.store, *a.ledger.chain()[0].public()).ok


def test_a_cli_process_and_the_server_share_the_ledger(
    pair: tuple[Platform, Platform], settings: Settings
) -> None:
    a, _ = pair
    fill(a, 4, "server")
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from charter.bootstrap import build\n"
        "from charter.settings import Settings\n"
        "url = sys.argv[2] or None\n"
        "p = build(Settings(data_dir=Path(sys.argv[1]), database_url=url))\n"
        "with p.ledger.write() as w:\n"
        "    for i in range(70):\n"
        "        w.record('test.cli', None, n=i)\n"
        "p.close()\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", script, str(settings.data_dir), settings.database_url or ""],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    fill(a, 1, "server")  # the operator's next action on the server
    assert a.ledger.size == 75
    assert a.ledger.root() == recomputed(a)[1]
    assert_sound(a)
