"""The transparency report as JSON, public, city-wide or per project."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from charter.api.deps import PlatformDep
from charter.report.transparency import compute, rights_of

router = APIRouter(tags=["report"])


@router.get("/report/transparency")
def transparency(p: PlatformDep, project: str | None = None) -> dict[str, Any]:
    """Readings admitted and rejected, quarantine, consultations, incidents, the checkpoint."""
    return compute(p.store, p.ledger, project, rights_of(p)).to_json()
