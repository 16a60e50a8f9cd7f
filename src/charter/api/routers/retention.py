"""Retention runs and the rights figures of the transparency report."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from charter.api.deps import Operator, PlatformDep
from charter.domain.clock import iso

router = APIRouter(tags=["rights"])


def _run(run: Any) -> dict[str, Any]:
    return {**asdict(run), "at": iso(run.at)}


@router.post("/retention/run")
def run_retention(p: PlatformDep, actor: Operator) -> dict[str, Any]:
    """Delete data past its project's declared retention now (the job's schedule calls this)."""
    return _run(p.rights.retention.run(actor))


@router.get("/retention/runs")
def retention_runs(p: PlatformDep) -> list[dict[str, Any]]:
    """Public: when the retention job ran and what it removed."""
    return [_run(r) for r in p.store.retention_runs()]


@router.get("/rights/stats")
def rights_stats(p: PlatformDep) -> dict[str, Any]:
    """Public counts: consents by category, access requests by purpose and outcome."""
    return {
        "consents_by_category": p.store.consent_counts_by_category(),
        "access_requests_by_purpose": p.store.access_requests_by_purpose(),
    }
