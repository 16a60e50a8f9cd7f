"""Which city services are switched off: a state in the store that any process reads.

A service (preemption, crossing, snow-melt, hazard, signals) is on the register
as an algorithm and can be disabled by the two-person rule (`disable_service`,
`enable_service` in `security/approvals.py`). The approved action's handler
(`security/actions.py`) is the only caller of `set`; the state and its ledger
entry commit together. A service asks `disabled(name)` before it acts; the
answer comes from the store, so a service in another process sees a switch
made here at its next question.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from charter.domain.errors import Invalid
from charter.domain.model import Actor
from charter.ledger.log import Ledger
from charter.store.base import Store

SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
DISABLED, ENABLED = "disabled", "enabled"


def check_name(name: object) -> str:
    if not isinstance(name, str) or not SERVICE_NAME.match(name):
        raise Invalid("a service is named in lower-case letters, digits, - or _ (at most 64)")
    return name


class ServiceSwitch:
    def __init__(self, store: Store, ledger: Ledger, changed: Callable[[str], None]) -> None:
        self.store, self.ledger, self._changed = store, ledger, changed

    def disabled(self, name: str) -> bool:
        return name in self.store.disabled_services()

    def all_disabled(self) -> list[str]:
        return self.store.disabled_services()

    def set(self, name: str, disabled: bool, actor: Actor, why: str) -> dict[str, str]:
        """Carry out an approved `disable_service` or `enable_service` action."""
        name = check_name(name)
        status = DISABLED if disabled else ENABLED
        with self.ledger.write() as w:
            w.tx.set_service_status(name, status, w.now_ms)
            w.record(f"service.{status}", actor, service=name, why=why)
        self._changed(f"service:{name}")
        return {status: name}
