"""The chain of checkpoint signing keys, as the ledger itself records it.

The first key signs from the start. Rotating the key appends one entry,
``ledger.key_rotated``, naming the old key (its verifier key and id) and the new
one, and the checkpoint that covers exactly up to that entry is signed by the
*old* key: the hand-over is signed by the key readers already trust. Every
later checkpoint is signed by the new key. So anyone who holds the first key
can follow the chain from the entries alone, and each key is good only for the
tree sizes of its own period.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from charter.ledger.checkpoint import CheckpointError, key_id, parse_vkey, vkey

__all__ = ["KEY_ROTATED", "KeyPeriod", "Rotation", "chain_of"]

KEY_ROTATED = "ledger.key_rotated"


@dataclass(frozen=True)
class Rotation:
    """What a ``ledger.key_rotated`` entry says."""

    index: int  # the entry's index; the old key signs the checkpoint of size index + 1
    generation: int  # the new key's place in the chain (the first key is 0)
    old_vkey: str
    old_key_id: str  # hex
    new_vkey: str
    new_key_id: str  # hex

    @classmethod
    def from_entry(cls, index: int, data: bytes) -> Rotation:
        """Parse an entry; raise CheckpointError if it does not describe a rotation."""
        try:
            body = msgspec.json.decode(data)
            r = cls(
                index,
                int(body["generation"]),
                str(body["old_vkey"]),
                str(body["old_key_id"]),
                str(body["new_vkey"]),
                str(body["new_key_id"]),
            )
        except (msgspec.DecodeError, KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"malformed key rotation entry ({e})") from None
        for text, kid in ((r.old_vkey, r.old_key_id), (r.new_vkey, r.new_key_id)):
            if text.split("+")[1:2] != [kid]:
                raise CheckpointError("key rotation entry: key id does not match its key")
            parse_vkey(text)
        return r

    @staticmethod
    def fields(
        generation: int, old: tuple[str, Ed25519PublicKey], new: tuple[str, Ed25519PublicKey]
    ) -> dict[str, Any]:
        """The entry's fields (besides kind, time, actor and why)."""
        return {
            "generation": generation,
            "key_name": old[0],
            "old_vkey": vkey(*old),
            "old_key_id": key_id(*old).hex(),
            "new_vkey": vkey(*new),
            "new_key_id": key_id(*new).hex(),
        }


@dataclass(frozen=True)
class KeyPeriod:
    """One key of the chain and the tree sizes it may sign."""

    generation: int
    vkey: str
    key_id: str  # hex
    first_size: int  # smallest tree size it signs
    last_size: int | None  # largest (the checkpoint of its own retirement); None: current
    retired_at_entry: int | None  # index of the entry that retired it

    def covers(self, size: int) -> bool:
        return self.first_size <= size and (self.last_size is None or size <= self.last_size)

    def public(self) -> tuple[str, Ed25519PublicKey]:
        return parse_vkey(self.vkey)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def chain_of(first_vkey: str, rotations: list[Rotation]) -> list[KeyPeriod]:
    """The chain from the first key through each rotation, in order.

    Raises CheckpointError if a rotation does not hand over from the key then current.
    """
    periods: list[KeyPeriod] = []
    current, current_id = first_vkey, first_vkey.split("+")[1]
    first_size = 0
    for r in rotations:
        if r.old_key_id != current_id or r.generation != len(periods) + 1:
            raise CheckpointError(
                f"entry {r.index}: key rotation does not hand over from the current key "
                f"{current_id} (generation {len(periods)})"
            )
        gen = len(periods)
        periods.append(KeyPeriod(gen, current, current_id, first_size, r.index + 1, r.index))
        current, current_id, first_size = r.new_vkey, r.new_key_id, r.index + 2
    periods.append(KeyPeriod(len(periods), current, current_id, first_size, None, None))
    return periods
