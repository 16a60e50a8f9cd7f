"""Trust policy, device keys and firmware, two-person actions, the token issuer's keys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from charter.api.deps import PlatformDep, require
from charter.auth import Role, issuer_jwks
from charter.domain.errors import Invalid
from charter.domain.model import Actor, Firmware
from charter.domain.sbom import SbomError, parse_cyclonedx
from charter.security import roles
from charter.security.approvals import ActionKind
from charter.store.base import DeviceKey

router = APIRouter(tags=["security"])

PolicyChanger = Annotated[Actor, Depends(require(*roles.CHANGE_POLICY))]
DeviceManager = Annotated[Actor, Depends(require(*roles.MANAGE_DEVICES))]
ApprovalViewer = Annotated[Actor, Depends(require(*roles.SEE_APPROVALS))]
Staff = Annotated[Actor, Depends(require(*Role))]
Why = Annotated[str, Field(min_length=1, max_length=2000)]


class WhyBody(BaseModel):
    why: Why


@router.get("/policy/check")
def policy_check(p: PlatformDep) -> list[dict[str, object]]:
    """For each vendor and device: does it pass the trust policy, and why not. Public."""
    return [v.to_json() for v in p.security.trust.check()]


@router.post("/policy/apply")
def policy_apply(body: WhyBody, p: PlatformDep, actor: PolicyChanger) -> dict[str, Any]:
    """Re-read the policy file, adopt it for every process and re-judge everything;
    failing devices are suspended."""
    policy, out = p.security.trust.apply_configured(actor, body.why)
    return {
        "policy": policy.fingerprint(),
        "vendors_changed": out.vendors_changed,
        "devices_suspended": out.devices_suspended,
    }


def _key_json(k: DeviceKey) -> dict[str, Any]:
    return {
        "key_id": k.key_id,
        "public_key": k.public_key,
        "not_before": k.not_before,
        "not_after": k.not_after,
        "revoked_at": k.revoked_at,
    }


class RotateBody(BaseModel):
    public_key: Annotated[str, Field(min_length=1, max_length=64)]
    overlap_s: Annotated[int, Field(ge=0, le=30 * 86_400)] | None = None
    why: Why


@router.get("/devices/{device_id}/keys")
def device_keys(device_id: str, p: PlatformDep) -> list[dict[str, Any]]:
    """A device's public keys and their validity windows. Public: they are public keys."""
    return [_key_json(k) for k in p.security.device_keys.keys(device_id)]


@router.post("/devices/{device_id}/keys")
def rotate_key(
    device_id: str, body: RotateBody, p: PlatformDep, actor: DeviceManager
) -> dict[str, Any]:
    """Rotate to a key made on the device; the old one verifies until the overlap ends."""
    keys = p.security.device_keys
    k = keys.rotate(device_id, body.public_key, actor, body.why, overlap_s=body.overlap_s)
    return _key_json(k)


@router.post("/devices/{device_id}/keys/{key_id}/revoke")
def revoke_key(
    device_id: str, key_id: str, body: WhyBody, p: PlatformDep, actor: DeviceManager
) -> dict[str, Any]:
    """End one key at once."""
    return _key_json(p.security.device_keys.revoke(device_id, key_id, actor, body.why))


class FirmwareBody(BaseModel):
    version: Annotated[str, Field(min_length=1, max_length=200)]
    sbom: dict[str, Any]  # CycloneDX JSON
    why: Why


@router.post("/devices/{device_id}/firmware")
def firmware(
    device_id: str, body: FirmwareBody, p: PlatformDep, actor: DeviceManager
) -> dict[str, Any]:
    """Record a firmware update with its SBOM; the device is judged at once."""
    try:
        components = parse_cyclonedx(body.sbom)
    except SbomError as exc:
        raise Invalid(str(exc)) from None
    fw = Firmware(version=body.version, components=components)
    status = p.security.trust.update_firmware(device_id, fw, actor, body.why)
    device = p.store.get_device(device_id)
    reasons = device.trust_reasons if device else []
    return {"device": device_id, "status": status, "trust_reasons": reasons}


class ProposeBody(BaseModel):
    kind: ActionKind
    params: dict[
        Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=200)] | int
    ] = Field(default={}, max_length=16)
    why: Why


@router.get("/approvals")
def list_approvals(
    p: PlatformDep, _actor: ApprovalViewer, status: str | None = None
) -> list[dict[str, Any]]:
    return [a.to_json() for a in p.security.approvals.list(status)]


@router.post("/approvals", status_code=201)
def propose(body: ProposeBody, p: PlatformDep, actor: Staff) -> dict[str, Any]:
    """Propose a city-wide destructive action or a bulk read; a second person must approve."""
    return p.security.approvals.propose(body.kind, dict(body.params), actor, body.why).to_json()


@router.post("/approvals/{action_id}/approve")
def approve(action_id: str, body: WhyBody, p: PlatformDep, actor: Staff) -> dict[str, Any]:
    """Approve (a different person from the proposer) and carry the action out."""
    return p.security.approvals.approve(action_id, actor, body.why).to_json()


@router.post("/approvals/{action_id}/refuse")
def refuse(action_id: str, body: WhyBody, p: PlatformDep, actor: Staff) -> dict[str, Any]:
    return p.security.approvals.refuse(action_id, actor, body.why).to_json()


@router.get("/auth/jwks")
def jwks(p: PlatformDep) -> dict[str, Any]:
    """The embedded issuer's public keys (RFC 7517), so others can verify its tokens."""
    return issuer_jwks(p.store)
