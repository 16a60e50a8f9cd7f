"""A device's keys over its life: enrolment, rotation with an overlap, revocation.

The key pair is made on the device; the platform stores only public keys. A
rotation adds the new key at once and lets the old one verify until the overlap
ends; a revocation ends a key at once. Sequence numbers belong to the device,
not the key, so an envelope captured under the old key is still a replay after
the rotation.
"""

from __future__ import annotations

from charter.bus.base import TOPIC_REGISTRY, Bus
from charter.domain.clock import Clock, to_ms
from charter.domain.errors import Conflict, NotFound
from charter.domain.model import Actor
from charter.ledger.log import Ledger
from charter.registry.service import check_public_key, key_fingerprint
from charter.store.base import DeviceKey, Store


class DeviceKeys:
    def __init__(
        self, store: Store, ledger: Ledger, bus: Bus, clock: Clock, overlap_s: int
    ) -> None:
        self.store, self.ledger, self.bus, self.clock = store, ledger, bus, clock
        self.overlap_s = overlap_s

    def keys(self, device_id: str) -> list[DeviceKey]:
        """The device's keys; the enrolment key if it was never rotated or revoked."""
        device = self.store.get_device(device_id)
        if device is None:
            raise NotFound(device_id)
        stored = self.store.device_keys(device_id)
        if stored:
            return stored
        return [DeviceKey(device_id, key_fingerprint(device.public_key), device.public_key, 0)]

    def rotate(
        self,
        device_id: str,
        public_key_b64: str,
        actor: Actor,
        why: str,
        *,
        overlap_s: int | None = None,
    ) -> DeviceKey:
        check_public_key(public_key_b64)
        current = self.keys(device_id)
        new_id = key_fingerprint(public_key_b64)
        if any(k.key_id == new_id for k in current):
            raise Conflict("that key was already used by this device")
        now = to_ms(self.clock.now())
        overlap_ms = (self.overlap_s if overlap_s is None else overlap_s) * 1000
        device = self.store.get_device(device_id)
        assert device is not None
        new = DeviceKey(device_id, new_id, public_key_b64, now)
        with self.ledger.write() as w:
            ending = []
            for k in current:
                if k.revoked_at is None and (k.not_after is None or k.not_after > now + overlap_ms):
                    w.tx.put_device_key(
                        DeviceKey(
                            k.device_id, k.key_id, k.public_key, k.not_before, now + overlap_ms
                        )
                    )
                    ending.append(k.key_id)
            w.tx.put_device_key(new)
            w.tx.put_device(device.model_copy(update={"public_key": public_key_b64}), w.now_ms)
            w.record(
                "device.key_rotated",
                actor,
                subject=device_id,
                key=new_id,
                retiring=ending,
                overlap_s=overlap_ms // 1000,
                why=why,
            )
        self.bus.publish(TOPIC_REGISTRY, device_id)
        return new

    def revoke(self, device_id: str, key_id: str, actor: Actor, why: str) -> DeviceKey:
        """End one key at once: nothing it signs is accepted from now on."""
        current = {k.key_id: k for k in self.keys(device_id)}
        k = current.get(key_id)
        if k is None:
            raise NotFound(f"key {key_id} of {device_id}")
        if k.revoked_at is not None:
            raise Conflict(f"key {key_id} is already revoked")
        now = to_ms(self.clock.now())
        revoked = DeviceKey(k.device_id, k.key_id, k.public_key, k.not_before, k.not_after, now)
        with self.ledger.write() as w:
            w.tx.put_device_key(revoked)
            w.record("device.key_revoked", actor, subject=device_id, key=key_id, why=why)
        self.bus.publish(TOPIC_REGISTRY, device_id)
        return revoked
