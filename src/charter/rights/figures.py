"""Residents' rights in figures, for the transparency report: counts only, never who."""

from __future__ import annotations

from typing import Any

from charter.domain.clock import iso
from charter.store.base import Store


class RightsFigures:
    """The report's RightsProvider (report/transparency.py), computed from the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def consent_counts(self, project_id: str | None) -> dict[str, dict[str, int]]:
        """Consents per data category: given (still in the register) and withdrawn."""
        return self.store.consent_counts_by_category(project_id)

    def access_requests(self, project_id: str | None) -> dict[str, dict[str, int]]:
        """Access requests per purpose and outcome (pending, granted, rejected, revoked)."""
        return self.store.access_requests_by_purpose(project_id)

    def retention(self, project_id: str | None) -> list[dict[str, Any]]:
        """The retention job's runs, newest first, with what each removed."""
        out = []
        for run in self.store.retention_runs():
            by_project: dict[str, dict[str, int]] = run.detail.get("readings", {})
            if project_id is not None:
                by_project = {k: v for k, v in by_project.items() if k == project_id}
            removed = sum(sum(v.values()) for v in by_project.values())
            out.append({"at": iso(run.at), "removed": removed, "by_project": by_project})
        return out
