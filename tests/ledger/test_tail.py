"""The end of the log: deleted checkpoints, a rewritten tail, trusted checkpoints and witnesses.

The store alone cannot show what it no longer holds; verify checks the declared
spacing of checkpoints, checks the tail against views kept outside the store
(an auditor's saved checkpoint, a witness's cosignature), and says plainly what
it cannot prove without one.
"""

from __future__ import annotations

import base64
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from charter.api.app import create_app
from charter.bootstrap import Platform, build
from charter.domain.clock import FixedClock
from charter.keys import SigningKey
from charter.ledger.checkpoint import Checkpoint, sign_checkpoint, vkey
from charter.ledger.cosignature import (
    cosign,
    parse_witness_vkey,
    signature_lines,
    witness_vkey,
)
from charter.ledger.merkle import Frontier
from charter.ledger.verify import Report, Trusted, verify
from charter.ledger.witness import WitnessClient, WitnessRefused
from charter.settings import Settings
from tests.conftest import START
from tests.ledger.test_verify import charter

NOW_S = int(START.timestamp())
WITNESS = SigningKey("witness.example.org", Ed25519PrivateKey.generate())
WITNESS_VKEY = witness_vkey(WITNESS.name, WITNESS.public_key)


def fill(p: Platform, n: int) -> None:
    with p.ledger.write() as w:
        for i in range(n):
            w.record("test.filler", None, n=i, why="honest")


@pytest.fixture
def ledger(tmp_path: Path, clock: FixedClock) -> Iterator[Platform]:
    """140 entries: checkpoints at 64 and 128 (the declared spacing), and one asked for at 100."""
    p = build(Settings(data_dir=tmp_path / "data", ledger_witnesses=[WITNESS_VKEY]), clock=clock)
    fill(p, 100)
    p.ledger.checkpoint()
    fill(p, 40)
    assert [c.size for c in p.store.ledger_checkpoints()] == [64, 100, 128]
    yield p
    p.close()


def check(p: Platform, *trusted: str, witnesses: bool = False) -> Report:
    key = p.ledger.key
    outside = [Trusted(note, f"saved-{i}") for i, note in enumerate(trusted)]
    keys = [parse_witness_vkey(WITNESS_VKEY)] if witnesses else []
    return verify(p.store, key.name, key.public_key, trusted=outside, witnesses=keys)


def db(p: Platform) -> sqlite3.Connection:
    return sqlite3.connect(p.settings.database_path)


def rewrite_tail(p: Platform, keep: int, new_size: int) -> None:
    """Cut the log back to `keep` entries and append forged ones up to `new_size`, with
    every stored hash recomputed: the tree itself is consistent again."""
    conn = db(p)
    with conn:
        data = [bytes(d) for (d,) in conn.execute("SELECT data FROM ledger_entries ORDER BY idx")]
        data = data[:keep] + [b'{"kind":"test.forged","n":%d}' % i for i in range(new_size - keep)]
        conn.execute("DELETE FROM ledger_entries")
        conn.execute("DELETE FROM ledger_nodes")
        conn.executemany(
            "INSERT INTO ledger_entries (idx, at, kind, data) VALUES (?, 0, 'x', ?)",
            list(enumerate(data)),
        )
        frontier = Frontier()
        for d in data:
            conn.executemany(
                "INSERT INTO ledger_nodes (level, idx, hash) VALUES (?, ?, ?)", frontier.append(d)
            )
        conn.execute("DELETE FROM ledger_checkpoints WHERE size > ?", (keep,))
    conn.close()


def test_a_deleted_newest_checkpoint_is_named_by_the_spacing(ledger: Platform) -> None:
    conn = db(ledger)
    with conn:
        conn.execute("DELETE FROM ledger_checkpoints WHERE size = 128")
    conn.close()
    report = check(ledger)
    assert [str(p) for p in report.problems] == [
        "checkpoint at size 128: missing: the ledger signs one every 64 entries, so it was deleted"
    ]


def test_a_rewritten_tail_is_caught_by_the_spacing_while_the_log_is_long_enough(
    ledger: Platform,
) -> None:
    rewrite_tail(ledger, keep=100, new_size=140)
    assert [p.where for p in check(ledger).problems] == ["checkpoint at size 128"]


def test_a_tail_cut_back_below_the_deleted_checkpoint_is_caught_by_a_trusted_checkpoint(
    ledger: Platform,
) -> None:
    saved = ledger.ledger.checkpoint().note  # an auditor kept the checkpoint of size 140
    rewrite_tail(ledger, keep=64, new_size=120)  # no multiple of 64 is missing now
    alone = check(ledger)
    assert alone.ok  # the store alone looks like an honest shorter log...
    assert any("cannot prove that entries after size 0" in u for u in alone.unproven)
    against = check(ledger, saved)  # ...which the saved checkpoint shows it is not
    assert [str(p) for p in against.problems] == [
        "trusted checkpoint saved-0 (size 140): the log now holds only 120 entries: "
        "entries were removed"
    ]


def test_a_tail_rewritten_to_the_same_length_is_caught_by_a_trusted_checkpoint(
    ledger: Platform,
) -> None:
    saved = ledger.store.ledger_checkpoint(100)
    assert saved is not None
    rewrite_tail(ledger, keep=70, new_size=120)  # checkpoint 100 deleted with the tail
    assert check(ledger).ok
    [problem] = check(ledger, saved.note).problems
    assert problem.what == "entries 0..99 are not those it signed: the history was rewritten"


def test_a_trusted_checkpoint_the_log_did_not_sign_is_refused(ledger: Platform) -> None:
    forged = sign_checkpoint(
        Checkpoint(ledger.ledger.origin, 140, b"\0" * 32),
        ledger.ledger.key.name,
        Ed25519PrivateKey.generate(),
    )
    [problem] = check(ledger, forged).problems
    assert "is not signed by key" in problem.what


def test_verify_says_plainly_what_it_cannot_prove(ledger: Platform) -> None:
    report = check(ledger)
    assert report.ok and report.proven == []
    assert report.unproven == [
        "cannot prove that entries after size 0 were not cut back or rewritten with the "
        "checkpoints after them deleted (the newest checkpoint left is at size 128): the "
        "store cannot show what it no longer holds. A checkpoint saved earlier "
        "(--trusted-checkpoint FILE) or a witness's cosignature (--witness VKEY) of a "
        "later size would prove it",
        "cannot prove entries 128..139: no signed checkpoint covers them yet",
        "cannot prove that the log showed everyone this same history (no witness key "
        "given): anyone holding the signing key could sign a second one",
    ]
    # Against a checkpoint of the whole log, only the split view is left unproven.
    saved = ledger.ledger.checkpoint().note
    report = check(ledger, saved)
    assert report.proven == [
        "entries 0..139 are the ones the trusted checkpoint saved-0 covers: "
        "none was changed or removed since"
    ]
    assert [u.split(" (")[0] for u in report.unproven] == [
        "cannot prove that the log showed everyone this same history"
    ]


# --- witnesses -------------------------------------------------------------------------


@pytest.fixture
def witness(ledger: Platform, tmp_path: Path) -> WitnessClient:
    key = ledger.ledger.key
    return WitnessClient(
        TestClient(create_app(ledger)), WITNESS, (key.name, key.public_key), tmp_path / "w.state"
    )


def test_a_witness_cosigns_and_verify_checks_its_cosignature(
    ledger: Platform, witness: WitnessClient
) -> None:
    cosigned = witness.observe(NOW_S)
    stored = ledger.store.latest_checkpoint()
    assert stored is not None and stored.size == 140
    assert signature_lines(stored.note) == signature_lines(cosigned)
    assert len(signature_lines(stored.note)) == 2  # the log's and the witness's
    report = check(ledger, witnesses=True)
    assert report.ok
    assert report.proven == [
        "entries 0..139 are the ones witness witness.example.org's cosignature of "
        "2026-11-29T12:00:00+00:00 covers: none was changed or removed since"
    ]
    assert report.unproven == []
    # The witness's state is a trusted checkpoint too.
    assert check(ledger, witness.state.read_text(), witnesses=True).ok


def test_a_bad_cosignature_is_refused_by_the_log_and_by_verify(
    ledger: Platform, witness: WitnessClient
) -> None:
    note = ledger.ledger.checkpoint().note
    good = witness.observe(NOW_S)
    line = signature_lines(good)[-1]
    name, encoded = line[2:].split(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 1
    bad = note + f"\u2014 {name} {base64.b64encode(bytes(raw)).decode()}\n"
    client = TestClient(create_app(ledger))
    r = client.post("/ledger/cosignature", content=bad, headers={"content-type": "text/plain"})
    assert (r.status_code, r.json()["reason"]) == (422, "COSIGNATURE_INVALID")
    # A witness the log was not configured with counts for nothing.
    stranger = SigningKey("stranger.example.org", Ed25519PrivateKey.generate())
    other = cosign(note, stranger.name, stranger.private_key, NOW_S)
    r = client.post("/ledger/cosignature", content=other, headers={"content-type": "text/plain"})
    assert (r.status_code, r.json()["reason"]) == (422, "COSIGNATURE_INVALID")
    # A cosignature of a checkpoint the log never signed.
    fake = sign_checkpoint(
        Checkpoint(ledger.ledger.origin, 7, b"\1" * 32),
        ledger.ledger.key.name,
        ledger.ledger.key.private_key,
    )
    r = client.post(
        "/ledger/cosignature",
        content=cosign(fake, WITNESS.name, WITNESS.private_key, NOW_S),
        headers={"content-type": "text/plain"},
    )
    assert (r.status_code, r.json()["reason"]) == (404, "CHECKPOINT_UNKNOWN")
    # A forged cosignature put in the store by hand is named by verify.
    conn = db(ledger)
    with conn:
        conn.execute("UPDATE ledger_checkpoints SET note = ? WHERE size = 140", (bad,))
    conn.close()
    [problem] = check(ledger, witnesses=True).problems
    assert str(problem) == (
        "checkpoint at size 140: cosignature from witness 'witness.example.org' does not "
        "verify: refused"
    )


def test_a_witness_refuses_a_rewritten_history(ledger: Platform, witness: WitnessClient) -> None:
    witness.observe(NOW_S)
    # Someone holding the log's key rewrites entry 10 and re-signs everything.
    rewrite_tail(ledger, keep=10, new_size=150)
    conn = db(ledger)
    with conn:
        conn.execute("DELETE FROM ledger_checkpoints")
    conn.close()
    again = build(ledger.settings, clock=FixedClock(START))
    try:
        again.ledger.checkpoint()
        witness.client = TestClient(create_app(again))
        with pytest.raises(WitnessRefused, match="the history was rewritten"):
            witness.observe(NOW_S + 60)
    finally:
        again.close()


def test_the_command_takes_a_trusted_checkpoint_and_a_witness(
    ledger: Platform, witness: WitnessClient, tmp_path: Path
) -> None:
    witness.observe(NOW_S)
    saved = tmp_path / "saved.checkpoint"
    saved.write_text(witness.state.read_text())
    d = str(ledger.settings.data_dir)
    r = charter("ledger", "verify", "--data-dir", d, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "NOT PROVEN cannot prove that entries after size 0" in r.stdout
    r = charter(
        "ledger", "verify", "--data-dir", d, "--trusted-checkpoint", str(saved),
        "--witness", WITNESS_VKEY, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "proven: entries 0..139" in r.stdout
    assert "NOT PROVEN" not in r.stdout
    rewrite_tail(ledger, keep=64, new_size=120)
    r = charter(
        "ledger", "verify", "--data-dir", d, "--trusted-checkpoint", str(saved), cwd=tmp_path
    )
    assert r.returncode == 1
    assert "entries were removed" in r.stdout


def test_the_witness_command_refuses_a_log_it_cannot_reach(tmp_path: Path) -> None:
    key = SigningKey("charter.example.city", Ed25519PrivateKey.generate())
    r: subprocess.CompletedProcess[str] = charter(
        "ledger", "witness", "--url", "http://127.0.0.1:9", "--log-key",
        vkey(key.name, key.public_key), "--key", str(tmp_path / "w.pem"),
        "--state", str(tmp_path / "w.state"), cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 1
    assert "REFUSED" in r.stdout and "Traceback" not in r.stderr
    assert "witness key: witness.example.org+" in r.stdout
