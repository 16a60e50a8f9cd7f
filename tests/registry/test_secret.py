"""The commenters' source key is made once, kept private, and reused."""

from __future__ import annotations

from pathlib import Path

from charter.registry.secret import load_or_create_secret


def test_the_key_is_made_once_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "comment-source.key"
    key = load_or_create_secret(path)
    assert len(key) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_secret(path) == key
