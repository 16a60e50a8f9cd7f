"""The gate's view of the consent register: identifier digests and valid consents.

Held in memory so the consent stage costs dictionary look-ups. It carries the
register's version; the gate confirms that version inside the transaction that
stores personal rows (`confirm`), so a change committed by any process, even
between the gate's decision and its commit, makes the batch be decided again.
Changes made in this process refresh the index while holding the gate.
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass

from charter.domain.clock import to_ms
from charter.domain.envelope import ReadingIn
from charter.gate.consent import StaleConsent
from charter.gate.directory import CategoryRule, DeviceView
from charter.privacy.fields import FieldCipher
from charter.privacy.pseudonym import Pseudonymiser
from charter.store.base import Store, Tx
from charter.store.rights import ConsentRecord, LinkRecord


@dataclass(frozen=True, slots=True)
class Term:
    category: str
    projects: frozenset[str]
    granted_at: int
    expires_at: int | None

    @classmethod
    def of(cls, c: ConsentRecord) -> Term:
        return cls(c.category, frozenset(c.projects), c.granted_at, c.expires_at)


class ConsentIndex:
    def __init__(self, store: Store, pseudonyms: Pseudonymiser, cipher: FieldCipher) -> None:
        self.store, self.pseudonyms, self.cipher = store, pseudonyms, cipher
        self._lock = threading.Lock()
        self._links: dict[str, str] = {}
        self._terms: dict[str, list[Term]] = {}
        # Identifiers seen under a replaced key: their digest under the current
        # key, to be linked in the gate's next transaction (re-keying on sight).
        self._relink: dict[str, tuple[str, int]] = {}
        self.version = -1
        self.reload()

    def reload(self) -> None:
        # The version is read first: data newer than it only makes the next
        # confirm reload again, never the other way round.
        version = self.store.read_rights_version()
        links = {link.digest: link.resident_id for link in self.store.links()}
        terms: dict[str, list[Term]] = {}
        for c in self.store.consents(active_only=True):
            terms.setdefault(c.resident_id, []).append(Term.of(c))
        with self._lock:
            self._links, self._terms, self.version = links, terms, version

    def refresh(self, resident_id: str, expected_version: int) -> None:
        """After this process changed one resident's register (holding the gate)."""
        version = self.store.read_rights_version()
        if version != expected_version:
            self.reload()  # someone else changed something too
            return
        links = self.store.links(resident_id)
        terms = [Term.of(c) for c in self.store.consents(resident_id, active_only=True)]
        with self._lock:
            self._links = {d: r for d, r in self._links.items() if r != resident_id}
            self._links.update({link.digest: resident_id for link in links})
            if terms:
                self._terms[resident_id] = terms
            else:
                self._terms.pop(resident_id, None)
            self.version = version

    # ConsentPolicy ----------------------------------------------------------------
    def subject(self, device: DeviceView, reading: ReadingIn, now_ms: int) -> str | None:
        resident = self.resolve(device.declared[reading.category], reading)
        if resident is None:
            return None
        category, project = reading.category, device.project_id
        for t in self._terms.get(resident, ()):
            if (
                t.category == category
                and project in t.projects
                and t.granted_at <= now_ms
                and (t.expires_at is None or now_ms < t.expires_at)
            ):
                return resident
        return None

    def confirm(self, tx: Tx) -> None:
        if tx.rights_version() != self.version:
            self.reload()
            raise StaleConsent
        if self._relink:
            pending, self._relink = self._relink, {}
            now_ms = to_ms(self.pseudonyms.clock.now())
            for digest, (resident, version) in pending.items():
                tx.add_link_if_absent(LinkRecord(digest, version, resident, "rekeyed", now_ms))

    # PersonalData -----------------------------------------------------------------
    def resolve(self, rule: CategoryRule, reading: ReadingIn) -> str | None:
        if rule.identifier is None:
            return None
        raw = reading.values.get(rule.identifier)
        if type(raw) is not str:
            return None
        links, msg = self._links, raw.encode()
        current = None
        for version, key in self.pseudonyms.active:
            digest = hmac.digest(key, msg, "sha256").hex()
            resident = links.get(digest)
            if resident is not None:
                if current is not None:
                    # Known under a replaced key: re-key it now that it is seen.
                    self._relink[current[0]] = (resident, current[1])
                    links[current[0]] = resident
                return resident
            if current is None:
                current = (digest, version)
        return None

    def seal(self, resident_id: str, category: str, plaintext: bytes) -> str | None:
        return self.cipher.encrypt(resident_id, category, plaintext)
