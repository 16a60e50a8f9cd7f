"""Field encryption with per-resident keys: bound to resident and category, shredded with it."""

from __future__ import annotations

from pathlib import Path

from charter.privacy.fields import FieldCipher
from charter.privacy.keystore import KeyStore


def test_fields_decrypt_only_for_their_resident_and_category_until_the_key_is_destroyed(
    tmp_path: Path,
) -> None:
    keys = KeyStore(tmp_path / "keystore.db")
    cipher = FieldCipher(keys)
    assert cipher.encrypt("a", "c", b"{}") is None  # no key, no storing
    keys.create_resident_key("a", 1)
    keys.create_resident_key("b", 1)
    body = cipher.encrypt("a", "c", b'{"secret_field":1}')
    assert body is not None and "secret_field" not in body
    assert cipher.decrypt("a", "c", body) == b'{"secret_field":1}'
    assert cipher.decrypt("b", "c", body) is None  # moved to another resident's row
    assert cipher.decrypt("a", "other", body) is None
    assert cipher.decrypt("a", "c", '{"secret_field":1}') is None
    assert keys.destroy_resident_key("a") is True
    assert cipher.decrypt("a", "c", body) is None
    assert keys.destroy_resident_key("a") is False
    reopened = KeyStore(tmp_path / "keystore.db")
    assert FieldCipher(reopened).decrypt("a", "c", body) is None
    assert reopened.preload() == 1
    assert "hidden" in repr(keys)
    assert (tmp_path / "keystore.db").stat().st_mode & 0o077 == 0
    keys.close()
    reopened.close()
