"""Witnesses: outsiders who cosign the ledger's checkpoints once they checked them.

`Witness.observe` is what a witness runs (`charter ledger witness`) with its own
key and its own state file: it fetches the newest checkpoint, checks the log's
signature, checks a consistency proof from the checkpoint it cosigned last (so
it never cosigns a history that rewrote what it saw), cosigns, keeps the
cosigned note as its new state, and hands the cosignature to the log.

`accept_cosignature` is the log's side (`POST /ledger/cosignature`): a
cosignature counts only if it verifies against a configured witness key
(`ledger_witnesses`) and covers a checkpoint the log signed; it is then kept
in the checkpoint's note, beside the log's signature, where `charter ledger
verify --witness VKEY` checks it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from charter.domain.clock import Clock
from charter.domain.errors import CharterError
from charter.domain.reasons import Reason
from charter.keys import SigningKey, write_atomic
from charter.ledger.checkpoint import CheckpointError, parse_checkpoint, verify_checkpoint
from charter.ledger.cosignature import (
    Witness,
    cosign,
    cosignatures,
    parse_witness_vkey,
    witness_key_id,
)
from charter.ledger.log import Ledger
from charter.ledger.merkle import verify_consistency

__all__ = ["WitnessClient", "WitnessRefused", "Witnesses", "accept_cosignature"]

MAX_FUTURE_S = 60  # a cosignature dated further ahead than this is refused


def accept_cosignature(ledger: Ledger, note: str, witnesses: Sequence[Witness], now_s: int) -> str:
    """Keep the configured witnesses' cosignatures of `note`; returns the stored note."""
    try:
        cp, lines = parse_checkpoint(note)
        signed = cosignatures(note, witnesses)
    except CheckpointError as e:
        raise CharterError(Reason.COSIGNATURE_INVALID, str(e)) from None
    if not signed:
        raise CharterError(
            Reason.COSIGNATURE_INVALID, "the note carries no cosignature from a configured witness"
        )
    if max(signed.values()) > now_s + MAX_FUTURE_S:
        raise CharterError(Reason.COSIGNATURE_INVALID, "the cosignature is dated in the future")
    ids = {(name, witness_key_id(name, key)) for name, key in witnesses if name in signed}
    with ledger.write() as w:
        stored = ledger.store.ledger_checkpoint(cp.size)
        if stored is None or parse_checkpoint(stored.note)[0] != cp:
            raise CharterError(
                Reason.CHECKPOINT_UNKNOWN,
                f"the log signed no checkpoint of size {cp.size} with this root hash",
            )
        _, kept = parse_checkpoint(stored.note)
        # A witness's newer cosignature replaces its older one; other lines stay.
        merged = [x for x in kept if (x[0], x[1]) not in ids]
        merged += [x for x in lines if (x[0], x[1]) in ids]
        text = (
            cp.body().decode()
            + "\n"
            + "".join(
                f"\u2014 {name} {base64.b64encode(kid + sig).decode()}\n"
                for name, kid, sig in merged
            )
        )
        w.tx.set_checkpoint_note(cp.size, text)
    return text


class Witnesses:
    """The log's side of witnessing: the configured witnesses and their cosignatures."""

    def __init__(self, ledger: Ledger, vkeys: Sequence[str], clock: Clock) -> None:
        self.ledger, self.clock = ledger, clock
        self.keys = [parse_witness_vkey(v) for v in vkeys]

    def accept(self, note: str) -> str:
        return accept_cosignature(self.ledger, note, self.keys, int(self.clock.now().timestamp()))


class WitnessRefused(Exception):
    """The witness will not cosign: the log's checkpoint is forged or inconsistent."""


class WitnessClient:
    """A witness of one log, with its own key and state, over the log's public API."""

    def __init__(
        self,
        client: httpx.Client,
        key: SigningKey,
        log_key: tuple[str, Ed25519PublicKey],
        state: Path,
    ) -> None:
        self.client, self.key, self.log_key, self.state = client, key, log_key, state

    def observe(self, now_s: int) -> str:
        """Check the log's newest checkpoint against what this witness saw; cosign it."""
        note = self._get("/ledger/checkpoint").text
        try:
            cp = verify_checkpoint(note, *self.log_key)
        except CheckpointError as e:
            raise WitnessRefused(f"the log's checkpoint: {e}") from None
        if self.state.exists():
            old, _ = parse_checkpoint(self.state.read_text())
            if old.origin != cp.origin:
                raise WitnessRefused(f"this witness follows {old.origin}, not {cp.origin}")
            if cp.size < old.size:
                raise WitnessRefused(
                    f"the log shrank from {old.size} to {cp.size} entries since it was cosigned"
                )
            if cp.size == old.size and cp.root != old.root:
                raise WitnessRefused(f"the log changed its root at size {cp.size}: a fork")
            if cp.size > old.size:
                body = self._get(f"/ledger/proof/consistency?old={old.size}&new={cp.size}").json()
                proof = [base64.b64decode(h) for h in body["proof"]]
                if not verify_consistency(old.size, cp.size, old.root, cp.root, proof):
                    raise WitnessRefused(
                        f"the checkpoint of size {cp.size} does not extend the one of size "
                        f"{old.size} cosigned before: the history was rewritten"
                    )
        cosigned = cosign(note, self.key.name, self.key.private_key, now_s)
        write_atomic(self.state, cosigned.encode())  # the state moves on before anyone sees it
        r = self.client.post(
            "/ledger/cosignature", content=cosigned, headers={"content-type": "text/plain"}
        )
        if r.status_code != 200:
            raise WitnessRefused(f"the log did not take the cosignature: {r.text}")
        return cosigned

    def _get(self, path: str) -> httpx.Response:
        r = self.client.get(path)
        if r.status_code != 200:
            raise WitnessRefused(f"GET {path}: {r.status_code} {r.text}")
        return r
