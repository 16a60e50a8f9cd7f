"""The demo's trust part: which vendors and devices fail the city's policy, and why.

The untrusted vendor's devices keep sending during the demo and are refused
with VENDOR_UNTRUSTED; `charter policy check` gives the same explanation.
"""

from __future__ import annotations

from collections.abc import Callable

from charter.bootstrap import Platform


def show_trust(platform: Platform, say: Callable[[str], None]) -> None:
    verdicts = platform.security.trust.check()
    failing_vendors = [v for v in verdicts if v.kind == "vendor" and not v.passes]
    devices = [v for v in verdicts if v.kind == "device"]
    say(
        f"trust policy: {len(devices) - sum(not d.passes for d in devices)} of {len(devices)} "
        "devices pass; their envelopes are admitted, the others refused (VENDOR_UNTRUSTED)"
    )
    for vendor in failing_vendors:
        fleet = [d for d in devices if d.vendor == vendor.id]
        say(f"  {vendor.id} fails: {'; '.join(vendor.reasons)} ({len(fleet)} devices refused)")
    say("  `charter policy check` explains every vendor's and device's verdict")
