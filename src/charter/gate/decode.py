"""Stage 1, decode: bytes to an envelope, within size, depth and count limits.

In two passes around the authenticate stage. `Decode` reads only what
identifies the envelope (the signed bytes, the signature and the header; the
readings are skipped, not built), so that a stranger's envelope costs a scan
and a register look-up. `DecodeReadings` builds the readings of an envelope
whose signature has been checked. Neither reads committed state: both run
outside the gate's commit lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec

from charter.domain.envelope import (
    ENVELOPE_VERSION,
    Envelope,
    EnvelopeHead,
    EnvelopeRawReadings,
    EnvelopeReadings,
    ReadingIn,
    SignedEnvelope,
)
from charter.domain.reasons import Reason
from charter.gate.batch import Batch, EnvelopeItem, Rejection

STAGE = "decode"

_signed = msgspec.json.Decoder(SignedEnvelope)
_head = msgspec.json.Decoder(EnvelopeHead)
_readings = msgspec.json.Decoder(EnvelopeReadings)
_raw_readings = msgspec.json.Decoder(EnvelopeRawReadings)
_reading = msgspec.json.Decoder(ReadingIn)


@dataclass(frozen=True)
class Limits:
    max_envelope_bytes: int = 4 * 1024 * 1024
    max_readings: int = 10_000


# JSON has no NaN or Infinity; some encoders write them anyway. Name that case.
_NON_FINITE = re.compile(rb"[:\[,]\s*-?(?:NaN|Infinity)\s*[,\]}]")


def _malformed(raw: bytes) -> tuple[Reason, str]:
    if _NON_FINITE.search(raw):
        return Reason.NON_FINITE, "NaN and Infinity are not JSON numbers"
    return Reason.MALFORMED_JSON, ""


class Decode:
    """The header: size, JSON, the signed bytes and who claims to have signed them."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def __call__(self, batch: Batch) -> None:
        for item in batch.items:
            self.one(item)

    def one(self, item: EnvelopeItem) -> None:
        if len(item.raw) > self.limits.max_envelope_bytes:
            return item.reject(STAGE, Reason.ENVELOPE_TOO_LARGE)
        try:
            signed = _signed.decode(item.raw)
        except RecursionError:
            return item.reject(STAGE, Reason.TOO_DEEP)
        except msgspec.ValidationError as e:
            return item.reject(STAGE, Reason.INVALID_ENVELOPE, _shape(e))
        except msgspec.DecodeError:
            return item.reject(STAGE, *_malformed(item.raw))
        item.signed = bytes(signed.envelope)
        item.sig = signed.sig
        try:
            head = _head.decode(item.signed)
        except RecursionError:
            return item.reject(STAGE, Reason.TOO_DEEP)
        except msgspec.ValidationError as e:
            return item.reject(STAGE, Reason.INVALID_ENVELOPE, _shape(e))
        except msgspec.DecodeError:
            # The outer decode skips the envelope member without checking it
            # (invalid UTF-8, NaN literals): it is malformed after all.
            return item.reject(STAGE, *_malformed(item.signed))
        if head.v != ENVELOPE_VERSION:
            return item.reject(STAGE, Reason.INVALID_ENVELOPE, f"unsupported version {head.v}")
        # The readings live in item.readings, once DecodeReadings has built them.
        item.envelope = Envelope(head.v, head.device, head.seq, head.sent_at, [])
        return None


class DecodeReadings:
    """The readings of an authenticated envelope; one bad reading costs only itself."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def __call__(self, batch: Batch) -> None:
        for item in batch.live():
            self.one(item)

    def one(self, item: EnvelopeItem) -> None:
        try:
            # Fast path: every reading in one typed decode.
            item.readings = list(_readings.decode(item.signed).readings)
        except RecursionError:
            return item.reject(STAGE, Reason.TOO_DEEP)
        except msgspec.ValidationError:
            # Some part is the wrong shape: each reading on its own.
            if not self._slow_path(item):
                return None
        except msgspec.DecodeError:
            return item.reject(STAGE, *_malformed(item.signed))
        n = len(item.readings)
        if n == 0:
            return item.reject(STAGE, Reason.EMPTY_ENVELOPE)
        if n > self.limits.max_readings:
            return item.reject(
                STAGE, Reason.TOO_MANY_READINGS, f"{n} readings, at most {self.limits.max_readings}"
            )
        if not item.reading_rejections:
            item.reading_rejections = [None] * n
        return None

    def _slow_path(self, item: EnvelopeItem) -> bool:
        try:
            raw = _raw_readings.decode(item.signed)
        except RecursionError:
            item.reject(STAGE, Reason.TOO_DEEP)
            return False
        except msgspec.ValidationError as e:
            item.reject(STAGE, Reason.INVALID_ENVELOPE, _shape(e))
            return False
        readings: list[ReadingIn | None] = []
        rejections: list[Rejection | None] = []
        for r in raw.readings:
            try:
                readings.append(_reading.decode(r))
                rejections.append(None)
            except RecursionError:
                readings.append(None)
                rejections.append(Rejection(STAGE, Reason.TOO_DEEP))
            except msgspec.DecodeError as e:
                # msgspec names the path and the expected type, never the value.
                readings.append(None)
                message = _shape(e)
                reason = Reason.NON_FINITE if "out of range" in message else Reason.INVALID_READING
                rejections.append(Rejection(STAGE, reason, message))
        item.readings = readings
        item.reading_rejections = rejections
        item.raw_readings = [bytes(r) for r in raw.readings]
        return True


_UNKNOWN_FIELD = re.compile(r"unknown field `[^`]*`")


def _shape(error: msgspec.MsgspecError) -> str:
    """msgspec's message, without the name of an unknown field: a name the sender chose
    (it may be an e-mail address) is neither answered back nor kept with the decision."""
    return _UNKNOWN_FIELD.sub("unknown field", str(error))
