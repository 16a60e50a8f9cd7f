"""Signed actuator commands: the actuator verifies signature, target, expiry and sequence."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from charter.bootstrap import Platform
from charter.commands.command import SignedCommand, from_wire
from charter.commands.failsafe import Watchdog
from charter.commands.verifier import CommandRefused, CommandVerifier
from charter.domain.clock import FixedClock

SIGNAL = "urn:ngsi-ld:Device:signal-17"


def verifier(platform: Platform, clock: FixedClock, target: str = SIGNAL) -> CommandVerifier:
    return CommandVerifier(target, platform.security.commands.public_key_b64, clock)


def refusal(v: CommandVerifier, wire: bytes) -> str:
    with pytest.raises(CommandRefused) as e:
        v.verify(wire)
    return e.value.refusal.code


def test_a_signed_command_is_accepted_once(platform: Platform, clock: FixedClock) -> None:
    v = verifier(platform, clock)
    wire = platform.security.commands.sign(SIGNAL, "signal.preempt", {"approach": "north"})
    cmd = v.verify(wire.to_wire())
    assert (cmd.action, cmd.params) == ("signal.preempt", {"approach": "north"})
    assert refusal(v, wire.to_wire()) == "replayed"


def test_a_command_for_another_actuator_is_refused(platform: Platform, clock: FixedClock) -> None:
    wire = platform.security.commands.sign(SIGNAL, "signal.preempt", {}).to_wire()
    assert refusal(verifier(platform, clock, "urn:ngsi-ld:Device:heater-3"), wire) == "wrong_target"


def test_an_expired_command_is_refused(platform: Platform, clock: FixedClock) -> None:
    wire = platform.security.commands.sign(SIGNAL, "signal.preempt", {}).to_wire()
    clock.advance(timedelta(seconds=platform.settings.command_ttl_s))
    assert refusal(verifier(platform, clock), wire) == "expired"


def test_a_tampered_or_forged_command_is_refused(platform: Platform, clock: FixedClock) -> None:
    signed = platform.security.commands.sign(SIGNAL, "heater.set", {"celsius": 20})
    cmd = signed.command
    tampered = SignedCommand(
        msgspec.structs.replace(cmd, params={"celsius": 90}), signed.sig
    ).to_wire()
    v = verifier(platform, clock)
    assert refusal(v, tampered) == "bad_signature"
    assert refusal(v, b"{not json") == "malformed"
    assert refusal(v, signed.to_wire().replace(b'"sig"', b'"extra":1,"sig"')) == "malformed"
    assert v.verify(signed.to_wire()).params == {"celsius": 20}


def test_sequence_numbers_only_go_up(platform: Platform, clock: FixedClock) -> None:
    signer = platform.security.commands
    first, second = (signer.sign(SIGNAL, "signal.plan", {"plan": i}) for i in range(2))
    assert from_wire(second.to_wire()).command.seq > first.command.seq
    v = verifier(platform, clock)
    v.verify(second.to_wire())
    assert refusal(v, first.to_wire()) == "replayed"  # an older command arrives late


class Signal:
    def __init__(self) -> None:
        self.mode = "remote"

    def enter_safe_mode(self, why: str) -> None:
        self.mode = "fixed-time plan"

    def leave_safe_mode(self) -> None:
        self.mode = "remote"


def test_an_actuator_falls_back_to_safe_mode_within_the_bound(clock: FixedClock) -> None:
    signal = Signal()
    dog = Watchdog(signal, clock, timedelta(seconds=10))
    clock.advance(timedelta(seconds=9))
    assert dog.tick() is False and signal.mode == "remote"
    clock.advance(timedelta(seconds=1))
    assert dog.tick() is True and signal.mode == "fixed-time plan"
    dog.heard()
    assert signal.mode == "remote"
