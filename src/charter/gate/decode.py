"""Stage 1, decode: bytes to an envelope, within size, depth and count limits."""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec

from charter.domain.envelope import (
    ENVELOPE_VERSION,
    Envelope,
    EnvelopeHeader,
    ReadingIn,
    SignedEnvelope,
)
from charter.domain.reasons import Reason
from charter.gate.batch import Batch, EnvelopeItem, Rejection

STAGE = "decode"

_signed = msgspec.json.Decoder(SignedEnvelope)
_envelope = msgspec.json.Decoder(Envelope)
_header = msgspec.json.Decoder(EnvelopeHeader)
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
        env: Envelope | EnvelopeHeader | None
        try:
            # Fast path: the whole envelope in one typed decode.
            env = _envelope.decode(item.signed)
            item.readings = list(env.readings)
        except RecursionError:
            return item.reject(STAGE, Reason.TOO_DEEP)
        except msgspec.ValidationError:
            # Some part is the wrong shape: decode the header, then each reading
            # on its own, so one bad reading costs only itself.
            env = self._slow_path(item)
            if env is None:
                return None
        except msgspec.DecodeError:
            # The outer decode skips the envelope member without checking it
            # (invalid UTF-8, NaN literals): it is malformed after all.
            return item.reject(STAGE, *_malformed(item.signed))
        if env.v != ENVELOPE_VERSION:
            return item.reject(STAGE, Reason.INVALID_ENVELOPE, f"unsupported version {env.v}")
        n = len(item.readings)
        if n == 0:
            return item.reject(STAGE, Reason.EMPTY_ENVELOPE)
        if n > self.limits.max_readings:
            return item.reject(
                STAGE, Reason.TOO_MANY_READINGS, f"{n} readings, at most {self.limits.max_readings}"
            )
        if isinstance(env, EnvelopeHeader):  # readings live in item.readings
            env = Envelope(env.v, env.device, env.seq, env.sent_at, [])
        item.envelope = env
        if not item.reading_rejections:
            item.reading_rejections = [None] * n
        return None

    def _slow_path(self, item: EnvelopeItem) -> EnvelopeHeader | None:
        try:
            header = _header.decode(item.signed)
        except RecursionError:
            item.reject(STAGE, Reason.TOO_DEEP)
            return None
        except msgspec.ValidationError as e:
            item.reject(STAGE, Reason.INVALID_ENVELOPE, _shape(e))
            return None
        readings: list[ReadingIn | None] = []
        rejections: list[Rejection | None] = []
        for raw in header.readings:
            try:
                readings.append(_reading.decode(raw))
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
        item.raw_readings = [bytes(r) for r in header.readings]
        return header


_UNKNOWN_FIELD = re.compile(r"unknown field `[^`]*`")


def _shape(error: msgspec.MsgspecError) -> str:
    """msgspec's message, without the name of an unknown field: a name the sender chose
    (it may be an e-mail address) is neither answered back nor kept with the decision."""
    return _UNKNOWN_FIELD.sub("unknown field", str(error))
