"""The register: vendors, projects and devices. Reading is public; changing needs a role."""

from __future__ import annotations

from typing import Annotated, NoReturn

from fastapi import APIRouter, Body
from pydantic import AwareDatetime, BaseModel, Field

from charter.api.deps import Operator, PlatformDep
from charter.domain.errors import CharterError, NotFound
from charter.domain.model import Device, DeviceStatus, Project, ProjectStatus, Vendor
from charter.domain.reasons import Reason

router = APIRouter(tags=["registry"])


class Why(BaseModel):
    why: Annotated[str, Field(min_length=1, max_length=2000)]
    # When the change takes effect: omitted means now; earlier is refused (BACKDATED).
    at: AwareDatetime | None = None


class ProjectStatusChange(Why):
    status: ProjectStatus


class DeviceStatusChange(Why):
    status: DeviceStatus


class Reenrolment(BaseModel):
    public_key: Annotated[str, Field(min_length=1, max_length=64)]
    why: Annotated[str, Field(min_length=1, max_length=2000)]


@router.get("/vendors")
def list_vendors(p: PlatformDep) -> list[Vendor]:
    return p.store.list_vendors()


@router.post("/vendors", status_code=201)
def register_vendor(vendor: Vendor, p: PlatformDep, actor: Operator) -> Vendor:
    return p.registry.register_vendor(vendor, actor)


@router.get("/vendors/{vendor_id}")
def get_vendor(vendor_id: str, p: PlatformDep) -> Vendor:
    return p.store.get_vendor(vendor_id) or _missing(vendor_id)


@router.put("/vendors/{vendor_id}")
def update_vendor(vendor_id: str, vendor: Vendor, p: PlatformDep, actor: Operator) -> Vendor:
    _same(vendor_id, vendor.id)
    return p.registry.update_vendor(vendor, actor, "updated")


@router.get("/projects")
def list_projects(p: PlatformDep) -> list[Project]:
    return p.store.list_projects()


@router.post("/projects", status_code=201)
def create_project(project: Project, p: PlatformDep, actor: Operator) -> Project:
    return p.registry.create_project(project, actor)


@router.get("/projects/{project_id}")
def get_project(project_id: str, p: PlatformDep) -> Project:
    return p.store.get_project(project_id) or _missing(project_id)


@router.put("/projects/{project_id}")
def update_project(project_id: str, project: Project, p: PlatformDep, actor: Operator) -> Project:
    _same(project_id, project.id)
    return p.registry.update_project(project, actor, "updated")


@router.post("/projects/{project_id}/consultation")
def open_consultation(
    project_id: str, body: Annotated[Why, Body()], p: PlatformDep, actor: Operator
) -> Project:
    return p.registry.open_consultation(project_id, actor, body.why, body.at)


@router.post("/projects/{project_id}/status")
def set_project_status(
    project_id: str, body: ProjectStatusChange, p: PlatformDep, actor: Operator
) -> Project:
    return p.registry.set_project_status(project_id, body.status, actor, body.why, body.at)


@router.get("/devices")
def list_devices(p: PlatformDep, project: str | None = None) -> list[Device]:
    return p.store.list_devices(project)


@router.post("/devices", status_code=201)
def register_device(device: Device, p: PlatformDep, actor: Operator) -> Device:
    return p.registry.register_device(device, actor)


@router.get("/devices/{device_id}")
def get_device(device_id: str, p: PlatformDep) -> Device:
    return p.store.get_device(device_id) or _missing(device_id)


@router.post("/devices/{device_id}/status")
def set_device_status(
    device_id: str, body: DeviceStatusChange, p: PlatformDep, actor: Operator
) -> Device:
    return p.registry.set_device_status(device_id, body.status, actor, body.why)


@router.post("/devices/{device_id}/reenrol")
def reenrol_device(device_id: str, body: Reenrolment, p: PlatformDep, actor: Operator) -> Device:
    """Start a device over with a new key: earlier keys end now, its sequence resets."""
    return p.registry.reenrol_device(device_id, body.public_key, actor, body.why)


def _missing(what: str) -> NoReturn:
    raise NotFound(what)


def _same(path_id: str, body_id: str) -> None:
    if path_id != body_id:
        raise CharterError(Reason.VALIDATION_FAILED, "the id in the path and the body differ")
