"""The demo names the untrusted vendor, why it fails, and that its devices are refused."""

from __future__ import annotations

from charter.bootstrap import Platform
from charter.domain.reasons import Reason
from charter.sim import city as sample
from charter.sim.demo_trust import show_trust
from tests.conftest import SampleCity


def test_the_demo_explains_the_untrusted_vendor(platform: Platform, city: SampleCity) -> None:
    lines: list[str] = []
    show_trust(platform, lines.append)
    text = "\n".join(lines)
    assert f"{sample.UNTRUSTED} fails: missing certification ISO/IEC 27001" in text
    assert "vendor keeps remote access to raw data" in text
    assert "(1 devices refused)" in text and "charter policy check" in text
    [out] = platform.gate.ingest([city.envelope(city.untrusted)])
    assert out.rejection is not None and out.rejection.reason is Reason.VENDOR_UNTRUSTED
