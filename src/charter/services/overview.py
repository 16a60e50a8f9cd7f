"""What each city service on the register is doing now: the `charter services list` view.

One function the CLI and the operator console both show, so they never disagree:
each service's project, its state (disabled by the two-person rule, or what its
host last reported), its actuators and their state, and its report (flagged
sensors, preemptions, crossings: whatever the host reports, shown generically).
"""

from __future__ import annotations

from typing import Any

from charter.services.register import AlgorithmRegister
from charter.store.base import Store


def overview(store: Store, algorithms: AlgorithmRegister) -> list[dict[str, Any]]:
    states = {s.service: s for s in store.list_service_states()}
    disabled = set(store.disabled_services())
    rows = []
    for entry in algorithms.list():
        project = store.get_project(entry.project_id)
        st = states.get(entry.service)
        state = "disabled" if entry.service in disabled else (st.state if st else "not running")
        rows.append(
            {
                "service": entry.service,
                "project": entry.project_id,
                "project_status": project.status.value if project else "unknown",
                "state": state,
                "why": st.detail.get("why", "") if st else "",
                "actuators": st.detail.get("actuators", {}) if st else {},
                "report": st.detail.get("report", {}) if st else {},
                "reported_at": st.updated_at if st else None,
            }
        )
    return rows
