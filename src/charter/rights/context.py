"""What every rights service shares, and the one way a resident's register changes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from charter.domain.clock import Clock
from charter.domain.errors import CharterError, NotFound
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.gate.pipeline import Gate
from charter.ledger.log import Ledger, LedgerTx
from charter.privacy.fields import FieldCipher
from charter.privacy.keystore import KeyStore
from charter.privacy.pseudonym import Pseudonymiser
from charter.rights.index import ConsentIndex
from charter.settings import Settings
from charter.store.base import Store
from charter.store.rights import ResidentRecord


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class RightsContext:
    settings: Settings
    store: Store
    ledger: Ledger
    gate: Gate
    clock: Clock
    keys: KeyStore
    pseudonyms: Pseudonymiser
    cipher: FieldCipher
    index: ConsentIndex

    @contextmanager
    def change(self, resident_id: str) -> Iterator[LedgerTx]:
        """Change a resident's register: holds the gate, so no batch is decided
        meanwhile, and bumps the version the gate confirms before it commits."""
        with self.gate.exclusive():
            with self.ledger.write() as w:
                version = w.tx.bump_rights_version()
                yield w
            self.index.refresh(resident_id, version)

    def resident(self, resident_id: str) -> ResidentRecord:
        found = self.store.get_resident(resident_id)
        if found is None:
            raise NotFound(resident_id)
        if found.status == "erased":
            raise CharterError(Reason.ALREADY_ERASED)
        return found


def speaks_for(actor: Actor, resident_id: str) -> None:
    """A resident acts only on their own data; staff roles act through their own calls."""
    if actor.role != "resident" or actor.subject != resident_id:
        raise CharterError(Reason.FORBIDDEN, "a resident may act only on their own data")
