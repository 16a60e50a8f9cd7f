"""The demo's residents: different choices, and the gate doing what each chose."""

from __future__ import annotations

from pathlib import Path

from charter.bootstrap import Platform
from charter.sim import city as sample
from charter.sim.demo_residents import show


def test_the_demo_residents_get_what_they_chose(platform: Platform, tmp_path: Path) -> None:
    city = sample.seed(platform.registry, 20)
    lines: list[str] = []
    tokens = show(platform, city, lines.append)
    assert {"resident aiko", "resident ben", "resident chiyo", "resident daan"} <= set(tokens)
    text = "\n".join(lines)
    assert "aiko" in text and "admitted, encrypted" in text
    assert text.count("refused (NO_CONSENT)") == 2  # ben and chiyo
    assert "key destroyed" in text
    assert "FOB-" not in text
    assert "the crossing app read 1 reading(s)" in text
    # The one admitted personal reading is Aiko's, stored encrypted.
    [row] = platform.store.personal_readings()
    assert "extra_seconds" not in row[7]
