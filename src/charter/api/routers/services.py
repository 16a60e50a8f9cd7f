"""The public algorithm register: each city service, what it uses and how it decides."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from charter.api.deps import Operator, PlatformDep
from charter.domain.algorithm import AlgorithmEntry
from charter.domain.errors import Invalid

router = APIRouter(tags=["services"])

ServiceName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9-]{1,62}$")]


@router.get("/register/algorithms")
def list_algorithms(p: PlatformDep) -> list[AlgorithmEntry]:
    """Every city service on the register (public)."""
    return p.algorithms.list()


@router.get("/register/algorithms/{service}")
def get_algorithm(service: ServiceName, p: PlatformDep) -> AlgorithmEntry:
    return p.algorithms.get(service)


@router.put("/register/algorithms/{service}", status_code=200)
def put_algorithm(
    service: ServiceName, entry: AlgorithmEntry, why: str, actor: Operator, p: PlatformDep
) -> dict[str, Any]:
    """Publish or update a service's entry (operator); on the ledger."""
    if entry.service != service:
        raise Invalid("the entry names another service than the path")
    p.algorithms.register(entry, actor, why)
    return {"service": service, "project_id": entry.project_id}


@router.get("/services")
def list_services(p: PlatformDep) -> dict[str, Any]:
    """What each service last reported: its state and its actuators' (public)."""
    disabled = set(p.store.disabled_services())
    return {
        "services": [
            {
                "service": s.service,
                "state": "disabled" if s.service in disabled else s.state,
                "why": s.detail.get("why", ""),
                "actuators": s.detail.get("actuators", {}),
                "report": s.detail.get("report", {}),  # e.g. flagged sensors
                "reported_at": s.updated_at,
            }
            for s in p.store.list_service_states()
        ]
    }
