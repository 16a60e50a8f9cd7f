"""Subject rights: view, history, export (complete), and erasure that reaches every copy."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from charter.auth import Role, authenticate, issue_token
from charter.bootstrap import Platform
from charter.domain.clock import FixedClock
from charter.domain.errors import CharterError
from charter.domain.reasons import Reason
from charter.privacy.fields import FieldCipher
from charter.sim import city as sample
from charter.store import schema
from charter.store.sqlite import SqliteStore
from tests.conftest import COUNCIL, SampleCity, air_reading
from tests.rights.support import CROSSING, PURPOSE, as_resident, crossing, resident
from tests.rights.test_access import APP

FOB_A, FOB_B = "FOB-erase-aaaa-0001", "FOB-keep-bbbb-0002"


def _setup(platform: Platform, city: SampleCity, clock: FixedClock) -> tuple[str, str]:
    a, _ = resident(platform, FOB_A)
    b, _ = resident(platform, FOB_B)
    now = clock.now()
    platform.gate.ingest(
        [
            city.envelope(
                city.traffic,
                [
                    crossing(now, FOB_A, extra=11),
                    crossing(now, FOB_A, extra=99),  # out of range: dropped
                    crossing(now, FOB_B, extra=7),
                    crossing(now, "FOB-unknown-zzzz", extra=5),  # no consent: dropped
                ],
            ),
            # A quarantined (non-personal) reading, to show the quarantine holds nothing of A.
            city.envelope(city.air, [air_reading(now, pm25=-5)]),
        ]
    )
    access = platform.rights.access
    req = access.request(
        APP, dataset=sample.TRAFFIC, categories=[CROSSING], purpose=PURPOSE, why="study"
    )
    token = access.decide(
        req.id, COUNCIL, grant=True, why="ok", expires_at=now + timedelta(days=1)
    ).grant
    assert token is not None
    access.read(APP, token, category=CROSSING, purpose=PURPOSE)
    return a, b


def test_the_export_holds_everything_about_the_resident_and_nothing_else(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    a, b = _setup(platform, city, clock)
    issue_token(platform.store, clock, "resident-a", Role.RESIDENT, subject=a)
    export = platform.rights.subject.export(a, as_resident(a))
    assert export["format"] == "charter-subject-export/1"
    assert export["resident"]["id"] == a
    assert [i["kind"] for i in export["identifiers"]] == ["fob"]
    assert [c["purpose"] for c in export["consents"]] == [PURPOSE]
    assert [r["action"] for r in export["receipts"]] == ["granted"]
    assert [r["values"] for r in export["readings"]] == [{"extra_seconds": 11}]
    assert [(h["consumer"], h["purpose"]) for h in export["access_log"]] == [(APP.subject, PURPOSE)]
    text = json.dumps(export)
    assert b not in text and FOB_A not in text and FOB_B not in text
    # Complete: every row in every table that names the resident is in the export.
    assert isinstance(platform.store, SqliteStore)
    naming = {
        "readings": schema.readings.c.subject,
        "identifiers": schema.identifier_links.c.resident_id,
        "consents": schema.consents.c.resident_id,
        "receipts": schema.consent_receipts.c.resident_id,
        "access_log": schema.access_log.c.resident_id,
        "tokens": schema.tokens.c.subject,
    }
    with platform.store.engine.connect() as conn:
        for part, column in naming.items():
            held = conn.execute(select(func.count()).where(column == a)).scalar_one()
            assert len(export[part]) == held, part
        tables_naming_residents = {
            t.name
            for t in schema.metadata.sorted_tables
            if {"subject", "resident_id"} & set(t.c.keys())
        }
        # NGSI-LD's entity table has a subject column but never holds personal data
        # (personal attributes are read through Access, never copied there).
        held = conn.execute(
            select(func.count()).where(schema.ngsild_entities.c.subject == a)
        ).scalar_one()
        assert held == 0
        assert tables_naming_residents == {c.table.name for c in naming.values()} | {
            "ngsild_entities"
        }


def test_a_resident_cannot_see_or_erase_another_residents_data(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    a, b = _setup(platform, city, clock)
    subject = platform.rights.subject
    for call in (subject.view, subject.export, subject.history, subject.erase):
        with pytest.raises(CharterError) as err:
            call(b, as_resident(a))
        assert err.value.reason is Reason.FORBIDDEN
    with pytest.raises(CharterError) as err:
        subject.view(a, COUNCIL)
    assert err.value.reason is Reason.FORBIDDEN


def _backup(store: SqliteStore, to: Path) -> None:
    src = sqlite3.connect(store.path)
    dst = sqlite3.connect(to)
    src.backup(dst)
    dst.close()
    src.close()


def test_erasure_makes_every_copy_unreadable_and_is_on_the_ledger_without_personal_data(
    platform: Platform, city: SampleCity, clock: FixedClock, tmp_path: Path
) -> None:
    a, b = _setup(platform, city, clock)
    assert isinstance(platform.store, SqliteStore)
    keys = platform.rights.ctx.keys
    token = issue_token(platform.store, clock, "resident-a", Role.RESIDENT, subject=a)
    [a_key] = keys._db.execute(  # the key's bytes, to look for them afterwards
        "SELECT key FROM resident_keys WHERE resident_id = ?", (a,)
    ).fetchone()
    copy = tmp_path / "backup-before-erasure.db"
    _backup(platform.store, copy)

    done = platform.rights.subject.erase(a, as_resident(a))
    assert done["key_destroyed"] is True
    assert done["removed"]["readings"] == 1 and done["removed"]["consents"] == 1
    with pytest.raises(CharterError) as err:
        platform.rights.subject.erase(a, as_resident(a))
    assert err.value.reason is Reason.ALREADY_ERASED
    assert authenticate(platform.store, token) is None  # the resident's tokens are revoked
    assert platform.store.personal_readings(subject=a) == []
    assert platform.store.access_log(a) == [] and platform.store.receipts(a) == []

    # The copy taken before erasure, opened with the platform's keys.
    old = SqliteStore(copy)
    try:
        cipher = FieldCipher(keys)
        rows = old.personal_readings()
        a_rows = [r for r in rows if r[8] == a]
        b_rows = [r for r in rows if r[8] == b]
        assert a_rows and b_rows
        assert all(cipher.decrypt(a, r[3], r[7]) is None for r in a_rows)
        assert all(cipher.decrypt(b, r[3], r[7]) is not None for r in b_rows)
        held = old.quarantine()
        assert held  # the quarantine is there and holds nothing of the resident
        for q in held:
            assert FOB_A.encode() not in q.payload and b"extra_seconds" not in q.payload
    finally:
        old.close()
    raw = copy.read_bytes()
    assert FOB_A.encode() not in raw and FOB_B.encode() not in raw
    # The key itself is gone from the key store's file, not just unlinked.
    keys._db.execute("PRAGMA wal_checkpoint")
    assert bytes(a_key) not in platform.settings.keystore_path.read_bytes()
    [entry] = [e for e in platform.store.iter_ledger_entries() if e.kind == "resident.erased"]
    assert a not in entry.data.decode() and FOB_A not in entry.data.decode()
