"""The two-person rule: a city-wide destructive action needs two different people.

One authorised person proposes (who, what, why on the ledger); a different
authorised person approves or refuses (on the ledger too); only then is the
action carried out by the handler its service registered. A proposal expires
if nobody decides in time. Bulk reads of personal data beyond the city's
threshold go through the same rule (see `charter.security.bulkread`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from charter.auth import Role
from charter.domain.clock import Clock, iso, to_ms
from charter.domain.errors import CharterError, Conflict, Invalid, NotFound
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.ledger.log import Ledger
from charter.registry.services import check_name
from charter.store.base import PendingAction, Store


class ActionKind(StrEnum):
    REVOKE_VENDOR_FLEET = "revoke_vendor_fleet"
    DISABLE_SERVICE = "disable_service"
    ENABLE_SERVICE = "enable_service"
    ROTATE_LEDGER_KEY = "rotate_ledger_key"
    MASS_ERASURE = "mass_erasure"
    BULK_READ = "bulk_read"


_STAFF = frozenset({Role.OPERATOR.value, Role.COUNCIL.value})


def _service(params: dict[str, Any]) -> str:
    return check_name(params.get("service"))


@dataclass(frozen=True)
class Rule:
    proposers: frozenset[str]
    approvers: frozenset[str]
    params: tuple[str, ...]  # required parameters
    # Refuses bad parameters when proposed, so an approved action cannot fail on them.
    check: Callable[[dict[str, Any]], object] | None = None


RULES: dict[ActionKind, Rule] = {
    ActionKind.REVOKE_VENDOR_FLEET: Rule(_STAFF, _STAFF, ("vendor_id",)),
    ActionKind.DISABLE_SERVICE: Rule(_STAFF, _STAFF, ("service",), _service),
    ActionKind.ENABLE_SERVICE: Rule(_STAFF, _STAFF, ("service",), _service),
    ActionKind.ROTATE_LEDGER_KEY: Rule(_STAFF, _STAFF, ()),
    ActionKind.MASS_ERASURE: Rule(_STAFF, _STAFF, ("scope",)),
    # Whoever may read personal data asks; the council or an auditor agrees.
    ActionKind.BULK_READ: Rule(
        frozenset({Role.OPERATOR.value, Role.AUDITOR.value, Role.CONSUMER.value}),
        frozenset({Role.COUNCIL.value, Role.AUDITOR.value}),
        ("dataset", "max_records"),
    ),
}

Handler = Callable[[dict[str, Any], Actor, str], dict[str, Any]]


@dataclass(frozen=True)
class ActionView:
    id: str
    kind: str
    params: dict[str, Any]
    proposed_by: str
    proposed_at: str
    expires_at: str
    status: str
    decided_by: str | None
    result: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Approvals:
    def __init__(self, store: Store, ledger: Ledger, clock: Clock, ttl_s: int) -> None:
        self.store, self.ledger, self.clock, self.ttl_ms = store, ledger, clock, ttl_s * 1000
        self.handlers: dict[ActionKind, Handler] = {}

    def register(self, kind: ActionKind, handler: Handler) -> None:
        """The service that carries out `kind` once two people agreed."""
        self.handlers[kind] = handler

    def propose(
        self, kind: ActionKind, params: dict[str, Any], actor: Actor, why: str
    ) -> ActionView:
        rule = RULES[kind]
        if actor.role not in rule.proposers:
            raise CharterError(Reason.FORBIDDEN, f"the {actor.role} role may not propose {kind}")
        missing = [p for p in rule.params if p not in params]
        if missing:
            raise Invalid(f"{kind} needs {', '.join(missing)}")
        if rule.check is not None:
            rule.check(params)
        now = to_ms(self.clock.now())
        action = PendingAction(
            id=secrets.token_hex(8),
            kind=kind.value,
            params=json.dumps(params, sort_keys=True),
            proposed_by=actor.name,
            proposed_role=actor.role,
            proposed_at=now,
            expires_at=now + self.ttl_ms,
            status="pending",
        )
        with self.ledger.write() as w:
            w.tx.put_pending_action(action)
            w.record(
                "approval.proposed",
                actor,
                action=action.id,
                action_kind=kind.value,
                params=params,
                why=why,
            )
        return _view(action)

    def approve(self, action_id: str, actor: Actor, why: str) -> ActionView:
        action, kind = self._pending(action_id, actor)
        if actor.name == action.proposed_by:
            with self.ledger.write() as w:
                w.record("approval.refused_same_person", actor, action=action_id, why=why)
            raise CharterError(
                Reason.SAME_PERSON, "a second, different person must approve this action"
            )
        decided = _decide(action, "approved", actor, to_ms(self.clock.now()))
        with self.ledger.write() as w:
            # Decided under the ledger's write lock, held by one writer in any process:
            # two approvers racing cannot both carry the action out.
            self._still(action_id, "pending")
            w.tx.put_pending_action(decided)
            w.record("approval.approved", actor, action=action_id, action_kind=kind.value, why=why)
        handler = self.handlers.get(kind)
        try:
            result = handler(json.loads(action.params), actor, why) if handler else None
        except Exception as e:
            # Approved but not carried out: say so on the record and in its status, so it
            # is not taken for done (nor left looking approved); it can be proposed again.
            reason = e.reason.value if isinstance(e, CharterError) else "INTERNAL_ERROR"
            failed = PendingAction(**{**asdict(decided), "status": "failed"})
            with self.ledger.write() as w:
                w.tx.put_pending_action(failed)
                w.record(
                    "approval.failed", None, action=action_id, action_kind=kind.value, reason=reason
                )
            raise
        return _view(decided, result)

    def refuse(self, action_id: str, actor: Actor, why: str) -> ActionView:
        action, kind = self._pending(action_id, actor)
        decided = _decide(action, "refused", actor, to_ms(self.clock.now()))
        with self.ledger.write() as w:
            w.tx.put_pending_action(decided)
            w.record("approval.refused", actor, action=action_id, action_kind=kind.value, why=why)
        return _view(decided)

    def consume(self, action_id: str, kind: ActionKind, proposer: Actor) -> dict[str, Any]:
        """Use an approved action once (a bulk read): its parameters, then it is spent.
        Only by whoever proposed it: the same name in the same role."""
        action = self.store.get_pending_action(action_id)
        if (
            action is None
            or action.kind != kind.value
            or (action.proposed_by, action.proposed_role) != (proposer.name, proposer.role)
        ):
            raise NotFound(f"approved action {action_id}")
        if action.status != "approved":
            raise CharterError(Reason.NEEDS_SECOND_PERSON, f"action {action_id} is {action.status}")
        spent = PendingAction(**{**asdict(action), "status": "used"})
        with self.ledger.write() as w:
            self._still(action_id, "approved")  # spent once, even by two racing requests
            w.tx.put_pending_action(spent)
            w.record("approval.used", None, action=action_id, action_kind=kind.value)
        params: dict[str, Any] = json.loads(action.params)
        return params

    def list(self, status: str | None = None) -> list[ActionView]:
        return [_view(a) for a in self.store.list_pending_actions(status)]

    def get(self, action_id: str) -> ActionView:
        action = self.store.get_pending_action(action_id)
        if action is None:
            raise NotFound(f"action {action_id}")
        return _view(action)

    def _still(self, action_id: str, status: str) -> None:
        """Inside a ledger write: the action is still as it was read before the lock."""
        now = self.store.get_pending_action(action_id)
        if now is None or now.status != status:
            raise Conflict(f"action {action_id} is {now.status if now else 'gone'}")

    def _pending(self, action_id: str, actor: Actor) -> tuple[PendingAction, ActionKind]:
        action = self.store.get_pending_action(action_id)
        if action is None:
            raise NotFound(f"action {action_id}")
        kind = ActionKind(action.kind)
        if actor.role not in RULES[kind].approvers:
            raise CharterError(Reason.FORBIDDEN, f"the {actor.role} role may not decide {kind}")
        now = to_ms(self.clock.now())
        if action.status == "pending" and now >= action.expires_at:
            expired = _decide(action, "expired", None, now)
            with self.ledger.write() as w:
                w.tx.put_pending_action(expired)
                w.record("approval.expired", None, action=action_id)
            action = expired
        if action.status != "pending":
            raise Conflict(f"action {action_id} is {action.status}")
        return action, kind


def _decide(action: PendingAction, status: str, actor: Actor | None, now: int) -> PendingAction:
    return PendingAction(
        **{
            **asdict(action),
            "status": status,
            "decided_by": actor.name if actor else None,
            "decided_at": now,
        }
    )


def _view(a: PendingAction, result: dict[str, Any] | None = None) -> ActionView:
    return ActionView(
        a.id,
        a.kind,
        json.loads(a.params),
        a.proposed_by,
        iso(a.proposed_at),
        iso(a.expires_at),
        a.status,
        a.decided_by,
        result,
    )
