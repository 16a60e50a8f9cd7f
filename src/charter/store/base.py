"""The Store interface every backend implements.

Writes happen inside `transaction()`: everything done through one `Tx` commits
together or not at all, which is how the gate acknowledges only what is stored.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from charter.domain.consultation import Comment, Consultation, Theme
from charter.domain.model import Device, Project, Vendor
from charter.store.alerts import AlertsStore, AlertsTx
from charter.store.rights import RightsStore, RightsTx
from charter.store.services import ServicesStore, ServicesTx

# (device_id, project_id, category, observed_at_ms, received_at_ms, seq, body_json)
ReadingRow = tuple[str, str, str, int, int, int, str]
# A personal reading: its row (body encrypted with the resident's key) and its resident.
PersonalRow = tuple[ReadingRow, str]


@dataclass(frozen=True, slots=True)
class StoredReading:
    id: int
    device_id: str
    project_id: str
    category: str
    observed_at: int
    received_at: int
    seq: int
    body: str


@dataclass(frozen=True, slots=True)
class QuarantineItem:
    received_at: int
    device_id: str | None
    seq: int | None
    kind: str  # "envelope" or "reading"
    stage: str
    reason: str
    detail: str
    payload: bytes  # the minimised copy (gate/hold.py); whole envelopes before 0009
    id: int = 0
    status: str = "held"
    expires_at: int | None = None  # the shortest retention its project declares


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    at: int
    device_id: str | None
    seq: int | None
    stage: str
    reason: str
    count: int
    outcome: str  # "quarantined" or "dropped"
    # SHA-256 of the signed envelope bytes, set only when the device's own key
    # signed the envelope and the decision settles it: what "already decided" matches.
    digest: bytes | None = None
    # The device a refused stranger's envelope claimed to be (device_id is then None).
    claimed_device: str | None = None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    idx: int
    at: int
    kind: str
    data: bytes


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    at: int
    root: bytes
    note: str


@dataclass(frozen=True, slots=True)
class TokenRecord:
    digest: str
    name: str
    role: str
    created_at: int
    revoked: bool
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceKey:
    """One public key of a device and when it may sign (times in ms)."""

    device_id: str
    key_id: str
    public_key: str  # base64 Ed25519
    not_before: int
    not_after: int | None = None
    revoked_at: int | None = None


@dataclass(frozen=True, slots=True)
class IssuerKey:
    kid: str
    private_pem: str
    created_at: int


@dataclass(frozen=True, slots=True)
class PendingAction:
    id: str
    kind: str
    params: str  # JSON
    proposed_by: str
    proposed_role: str
    proposed_at: int
    expires_at: int
    status: str  # pending | approved | refused | expired
    decided_by: str | None = None
    decided_at: int | None = None


class SequenceConflict(Exception):
    """Another writer moved a device's sequence number on while this batch was decided.

    The transaction rolls back; the writer refreshes its view and decides again.
    """


class Tx(RightsTx, ServicesTx, AlertsTx, Protocol):
    def put_vendor(self, vendor: Vendor, at: int) -> None: ...
    def put_project(self, project: Project, at: int) -> None: ...
    def put_device(self, device: Device, at: int) -> None: ...
    def insert_readings(self, rows: Sequence[ReadingRow]) -> None: ...
    def insert_personal_readings(self, rows: Sequence[PersonalRow]) -> None: ...
    def insert_quarantine(self, items: Sequence[QuarantineItem]) -> None: ...
    # Retention: delete items past their declared retention or received before the cutoff.
    def purge_quarantine(self, now_ms: int, received_before: int) -> int: ...
    def set_quarantine_status(
        self, item_id: int, status: str, reason: str, detail: str
    ) -> None: ...
    def insert_decisions(self, records: Sequence[DecisionRecord]) -> None: ...
    def advance_device_seqs(self, seqs: dict[str, int]) -> None: ...
    def reset_device_seq(self, device_id: str) -> int:
        """Start the device's sequence over (a re-enrolment); returns where it was."""
        ...

    def append_ledger(
        self, entry: LedgerEntry, nodes: Sequence[tuple[int, int, bytes]]
    ) -> None: ...
    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None: ...
    def lock_ledger(self) -> int:
        """Serialise ledger appends across processes; the size of the ledger as committed.

        Held until the transaction ends: no other writer appends meanwhile.
        """
        ...

    def set_checkpoint_note(self, size: int, note: str) -> None: ...
    def add_token(self, token: TokenRecord) -> None: ...
    def revoke_token(self, digest: str) -> bool: ...
    def put_device_key(self, key: DeviceKey) -> None: ...
    def put_trust_policy(self, rules: str, fingerprint: str, at: int) -> None: ...
    def add_issuer_key(self, key: IssuerKey) -> None: ...
    def put_pending_action(self, action: PendingAction) -> None: ...
    def set_service_status(self, name: str, status: str, at: int) -> None: ...

    # consultation (the public register)
    def insert_consultation(self, c: Consultation) -> int: ...
    def decide_consultation(self, consultation_id: int, status: str, at: int, why: str) -> None: ...
    def insert_comment(
        self, c: Comment, source: str, name: str | None, contact: str | None
    ) -> int: ...
    def set_comment_theme(self, comment_id: int, theme_id: int) -> None: ...
    def insert_theme(self, t: Theme) -> int: ...
    def set_theme_response(self, theme_id: int, response: str, at: int) -> None: ...


class Store(RightsStore, ServicesStore, AlertsStore, Protocol):
    def transaction(self) -> AbstractContextManager[Tx]: ...
    def close(self) -> None: ...

    # registry
    def get_vendor(self, vendor_id: str) -> Vendor | None: ...
    def list_vendors(self) -> list[Vendor]: ...
    def get_project(self, project_id: str) -> Project | None: ...
    def list_projects(self) -> list[Project]: ...
    def get_device(self, device_id: str) -> Device | None: ...
    def list_devices(self, project_id: str | None = None) -> list[Device]: ...
    def device_seq(self, device_id: str) -> int: ...
    def read_register_version(self) -> int:
        """Bumped by every committed change to vendors, projects, devices, device keys,
        algorithm-register entries or service switches (`disable_service`)."""
        ...

    def read_trust_policy(self) -> str | None: ...

    # readings, quarantine and decisions
    def readings(
        self,
        *,
        device_id: str | None = None,
        project_id: str | None = None,
        since: int | None = None,
        until: int | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[StoredReading]: ...
    def count_readings(self) -> int: ...
    def quarantine(self, *, status: str = "held", limit: int = 1000) -> list[QuarantineItem]: ...
    def get_quarantine(self, item_id: int) -> QuarantineItem | None: ...
    def count_quarantine(self, status: str = "held") -> int: ...
    def rejections_by_reason(self) -> dict[str, int]: ...
    def was_decided(
        self, device_id: str, seq: int, digest: bytes, observed_since: int | None = None
    ) -> bool:
        """Did the gate already settle this authenticated envelope?

        Its readings are stored, or a decision on an envelope the device signed
        with this (device, seq) and this content digest was recorded. For
        redelivered envelopes only (it is not on the hot path). A bound on the
        readings' observation times lets the store use its time index.
        """
        ...

    # ledger
    def ledger_size(self) -> int: ...
    def ledger_node(self, level: int, idx: int) -> bytes: ...
    def ledger_entries(self, start: int, end: int) -> list[LedgerEntry]: ...
    def iter_ledger_entries(self) -> Iterator[LedgerEntry]: ...
    def ledger_checkpoints(self) -> list[StoredCheckpoint]: ...
    def latest_checkpoint(self) -> StoredCheckpoint | None: ...
    def ledger_checkpoint(self, size: int) -> StoredCheckpoint | None: ...

    # tokens
    def get_token(self, digest: str) -> TokenRecord | None: ...

    # consultation (the public register)
    def project_updated_at(self, project_id: str) -> int | None: ...
    def consultations(self, project_id: str | None = None) -> list[Consultation]: ...
    def get_consultation(self, consultation_id: int) -> Consultation | None: ...
    def comments(
        self, consultation_id: int, *, after_id: int = 0, limit: int = 1000
    ) -> list[Comment]: ...
    def get_comment(self, comment_id: int) -> Comment | None: ...
    def stance_counts(self, consultation_id: int) -> dict[str, int]: ...
    def count_comments_from(self, source: str, since: int) -> int: ...
    def themes(self, consultation_id: int) -> list[Theme]: ...
    def get_theme(self, theme_id: int) -> Theme | None: ...

    # per-project figures for the transparency report
    def count_readings_of(self, project_id: str) -> int: ...
    def rejections_by_reason_of(self, project_id: str) -> dict[str, int]: ...
    def count_quarantine_of(self, project_id: str, status: str = "held") -> int: ...

    # security: device keys, the token issuer's keys, two-person actions
    def device_keys(self, device_id: str) -> list[DeviceKey]: ...
    def issuer_keys(self) -> list[IssuerKey]: ...
    def get_pending_action(self, action_id: str) -> PendingAction | None: ...
    def list_pending_actions(self, status: str | None = None) -> list[PendingAction]: ...

    # city services disabled by the two-person rule
    def disabled_services(self) -> list[str]: ...
