from __future__ import annotations

from pathlib import Path

import pytest

from charter.settings import Settings


def test_defaults_need_no_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings.load()
    assert s.data_dir == Path("charter-data") and s.port == 8000
    assert s.database_path == Path("charter-data") / "charter.db"


def test_toml_then_environment_then_explicit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cfg = tmp_path / "charter.toml"
    cfg.write_text('[charter]\nport = 9001\nmax_readings = 500\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("CHARTER_CONFIG", str(cfg))
    monkeypatch.setenv("CHARTER_MAX_READINGS", "700")
    monkeypatch.setenv("CHARTER_REQUIRED_CERTIFICATIONS", "ISO/IEC 27001, IEC 62443-4-2")
    s = Settings.load(host="127.0.0.2")
    assert s.port == 9001  # from the file
    assert s.max_readings == 700  # the environment beats the file
    assert s.host == "127.0.0.2"  # an explicit option beats both
    assert s.required_certifications == ["ISO/IEC 27001", "IEC 62443-4-2"]


def test_unknown_or_invalid_settings_are_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "charter.toml"
    cfg.write_text("[charter]\nno_such_setting = 1\n")
    with pytest.raises(ValueError, match="no_such_setting"):
        Settings.load(cfg)
    cfg.write_text('[charter]\nport = "eighty"\n')
    with pytest.raises(ValueError, match="port"):
        Settings.load(cfg)
