"""Keyed pseudonyms: stable under one key, unguessable without it, changed by rotation."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from charter.domain.clock import FixedClock
from charter.privacy.keystore import KeyStore
from charter.privacy.pseudonym import Pseudonymiser

START = datetime(2026, 11, 29, tzinfo=UTC)


def _make(tmp_path: Path) -> tuple[KeyStore, Pseudonymiser, FixedClock]:
    keys = KeyStore(tmp_path / "keys" / "keystore.db")
    clock = FixedClock(START)
    return keys, Pseudonymiser(keys, clock), clock


def test_a_pseudonym_is_stable_keyed_and_changes_with_the_key(tmp_path: Path) -> None:
    keys, p, clock = _make(tmp_path)
    v, d = p.digest("FOB-1234")
    assert p.digest("FOB-1234") == (v, d)
    assert d != hashlib.sha256(b"FOB-1234").hexdigest()  # not a plain hash
    other_keys = KeyStore(tmp_path / "other" / "keystore.db")
    assert Pseudonymiser(other_keys, clock).digest("FOB-1234")[1] != d
    clock.advance(timedelta(days=90))
    assert p.due(90)
    v2 = p.rotate()
    assert p.digest("FOB-1234")[0] == v2 and p.digest("FOB-1234")[1] != d
    assert [x[1] for x in p.digests("FOB-1234")][1] == d  # the old key still links
    assert p.expired_versions(timedelta(days=30)) == []
    clock.advance(timedelta(days=30))
    assert p.expired_versions(timedelta(days=30)) == [v]
    assert "key" not in repr(p).replace("keys=<hidden>", "")
    keys.close()
    other_keys.close()


@given(st.text(min_size=1, max_size=64), st.text(min_size=1, max_size=64))
def test_distinct_identifiers_get_distinct_pseudonyms(a: str, b: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        keys, p, _ = _make(Path(tmp))
        assert (p.digest(a) == p.digest(b)) == (a == b)
        keys.close()
