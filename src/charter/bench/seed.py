"""What every benchmark starts from: the sample city's register and its own devices."""

from __future__ import annotations

from charter.device import DeviceSigner
from charter.domain.model import Actor, Device, Location, urn
from charter.registry.service import Registry
from charter.sim.city import AIR, TRUSTED

BENCH = Actor(name="bench", role="operator")


def enrol(
    registry: Registry,
    names: list[str],
    *,
    project: str = AIR,
    categories: tuple[str, ...] = ("air.quality",),
    modality: str = "air",
) -> list[DeviceSigner]:
    """Register one trusted vendor's device per name (keys made here, as on a device)."""
    signers = [DeviceSigner(urn("Device", name)) for name in names]
    for i, s in enumerate(signers):
        registry.register_device(
            Device(
                id=s.device_id,
                vendor_id=TRUSTED,
                project_id=project,
                modality=modality,
                location=Location(lat=52.34 + (i % 97) / 1000, lon=4.86 + (i % 89) / 1000),
                categories=list(categories),
                public_key=s.public_key_b64,
            ),
            BENCH,
        )
    return signers
