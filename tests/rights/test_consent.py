"""The consent ledger: opt-in per category and purpose, scope, expiry, withdrawal, receipts."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import msgspec
import pytest

from charter.bootstrap import Platform
from charter.domain.clock import FixedClock
from charter.domain.errors import CharterError
from charter.domain.reasons import Reason
from charter.rights import jws, receipt
from charter.sim import city as sample
from tests.conftest import OPERATOR, SampleCity
from tests.rights.support import CROSSING, PURPOSE, as_resident, crossing, resident

FOB = "FOB-7d41-resident-a"


def test_nothing_personal_is_admitted_by_default_even_for_a_linked_fob(
    platform: Platform, city: SampleCity
) -> None:
    resident(platform, FOB, consent=False)
    now = platform.clock.now()
    [out] = platform.gate.ingest([city.envelope(city.traffic, [crossing(now, FOB)])])
    assert out.rejected == {"NO_CONSENT": 1} and out.admitted == 0


def test_with_consent_the_reading_is_admitted_attributed_and_encrypted(
    platform: Platform, city: SampleCity
) -> None:
    rid, _ = resident(platform, FOB)
    now = platform.clock.now()
    [out] = platform.gate.ingest([city.envelope(city.traffic, [crossing(now, FOB, extra=12)])])
    assert out.admitted == 1 and not out.rejected
    [row] = platform.store.personal_readings()
    assert row[8] == rid
    assert FOB not in row[7]
    assert "extra_seconds" not in row[7]  # encrypted, not merely minimised
    plain = platform.rights.ctx.cipher.decrypt(rid, CROSSING, row[7])
    assert plain is not None and json.loads(plain) == {"extra_seconds": 12}


def test_consent_is_scoped_to_its_projects_and_ends_when_it_expires(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    rights = platform.rights
    rid = rights.residents.create(OPERATOR).id
    me = as_resident(rid)
    rights.residents.link_verified(rid, FOB, "fob", OPERATOR, "shown at the desk")
    rights.consents.grant(
        rid,
        category=CROSSING,
        purpose=PURPOSE,
        projects=[sample.TRAFFIC],
        actor=me,
        expires_at=clock.now() + timedelta(hours=1),
    )
    [out] = platform.gate.ingest([city.envelope(city.traffic, [crossing(clock.now(), FOB)])])
    assert out.admitted == 1
    clock.advance(timedelta(hours=1))
    [out] = platform.gate.ingest([city.envelope(city.traffic, [crossing(clock.now(), FOB)])])
    assert out.rejected == {"NO_CONSENT": 1}


def test_a_withdrawal_takes_effect_for_the_very_next_reading(
    platform: Platform, city: SampleCity
) -> None:
    rid, cid = resident(platform, FOB)
    assert cid is not None
    now = platform.clock.now()
    [out] = platform.gate.ingest([city.envelope(city.traffic, [crossing(now, FOB)])])
    assert out.admitted == 1
    platform.rights.consents.withdraw(rid, cid, as_resident(rid))
    [out] = platform.gate.ingest([city.envelope(city.traffic, [crossing(now, FOB)])])
    assert out.rejected == {"NO_CONSENT": 1}


def test_a_change_made_by_another_process_is_seen_before_the_gate_commits(
    platform: Platform, city: SampleCity
) -> None:
    _rid, cid = resident(platform, FOB)
    assert cid is not None
    # Another process withdraws: the store changes, this process's index does not.
    with platform.store.transaction() as tx:
        tx.withdraw_consent(cid, 1)
        tx.bump_rights_version()
    now = platform.clock.now()
    [out] = platform.gate.ingest([city.envelope(city.traffic, [crossing(now, FOB)])])
    assert out.rejected == {"NO_CONSENT": 1} and out.admitted == 0
    assert platform.store.personal_readings() == []


def test_bad_consents_are_refused_with_clear_reasons(platform: Platform, city: SampleCity) -> None:
    rid, cid = resident(platform, FOB)
    assert cid is not None
    me = as_resident(rid)
    grant = platform.rights.consents.grant

    def reason_of(**kw: object) -> Reason:
        args: dict[str, object] = {
            "category": CROSSING,
            "purpose": PURPOSE,
            "projects": [sample.TRAFFIC],
            "actor": me,
        }
        args.update(kw)
        with pytest.raises(CharterError) as err:
            grant(rid, **args)  # type: ignore[arg-type]
        return err.value.reason

    assert reason_of(category="body.temperature") is Reason.UNDECLARED_CATEGORY
    assert reason_of(projects=[sample.FLOOD]) is Reason.PROJECT_NOT_LIVE
    assert reason_of(projects=[sample.PARKING]) is Reason.UNDECLARED_CATEGORY
    assert reason_of(category="traffic.count") is Reason.VALIDATION_FAILED
    assert reason_of(purpose="Not A Purpose!") is Reason.VALIDATION_FAILED
    assert reason_of(projects=[]) is Reason.VALIDATION_FAILED
    other, _ = resident(platform, "FOB-other-resident")
    assert reason_of(actor=as_resident(other)) is Reason.FORBIDDEN
    platform.rights.consents.withdraw(rid, cid, me)
    with pytest.raises(CharterError) as err:
        platform.rights.consents.withdraw(rid, cid, me)
    assert err.value.reason is Reason.CONSENT_WITHDRAWN


def test_receipts_carry_the_kantara_fields_and_the_platforms_signature(
    platform: Platform, city: SampleCity
) -> None:
    rid, cid = resident(platform, FOB)
    assert cid is not None
    platform.rights.consents.withdraw(rid, cid, as_resident(rid))
    receipts = platform.store.receipts(rid)
    assert [r.action for r in receipts] == ["granted", "withdrawn"]
    for r in receipts:
        body = jws.verify(r.jws, platform.ledger.key.public_key, receipt.JWS_TYPE)
        assert body is not None
        for name in (
            "version",
            "jurisdiction",
            "consentTimestamp",
            "collectionMethod",
            "consentReceiptID",
            "piiPrincipalId",
            "piiControllers",
            "policyUrl",
            "services",
            "sensitive",
            "spiCat",
        ):
            assert name in body
        assert body["version"] == "KI-CR-v1.1.0" and body["piiPrincipalId"] == rid
        [purpose] = body["services"][0]["purposes"]
        for name in (
            "purpose",
            "purposeCategory",
            "consentType",
            "piiCategory",
            "termination",
            "thirdPartyDisclosure",
        ):
            assert name in purpose
        assert purpose["piiCategory"] == [CROSSING]
    assert "withdrawn" in json.dumps(
        jws.verify(receipts[1].jws, platform.ledger.key.public_key, receipt.JWS_TYPE)
    )
    forged = receipts[0].jws[:-4] + ("AAAA" if not receipts[0].jws.endswith("AAAA") else "BBBB")
    assert jws.verify(forged, platform.ledger.key.public_key, receipt.JWS_TYPE) is None


def test_the_ledger_records_consent_without_the_resident_or_the_identifier(
    platform: Platform, city: SampleCity, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rid, cid = resident(platform, FOB)
    assert cid is not None
    platform.rights.consents.withdraw(rid, cid, as_resident(rid))
    now = platform.clock.now()
    platform.gate.ingest([city.envelope(city.traffic, [crossing(now, FOB)])])
    kinds = []
    for entry in platform.store.iter_ledger_entries():
        text = entry.data.decode()
        assert rid not in text and FOB not in text
        kinds.append(entry.kind)
    assert {"consent.granted", "consent.withdrawn", "identifier.linked"} <= set(kinds)
    body = msgspec.json.decode(platform.store.ledger_entries(len(kinds) - 1, len(kinds))[0].data)
    assert body["kind"] == "consent.withdrawn" and "receipt_sha256" in body
    assert FOB not in caplog.text


def test_a_consent_given_by_another_process_is_seen_at_the_next_personal_reading(
    platform: Platform, city: SampleCity
) -> None:
    from charter.store.rights import ConsentRecord
    from charter.store.sqlite import SqliteStore

    rid, _ = resident(platform, FOB, consent=False)
    assert isinstance(platform.store, SqliteStore)
    other = SqliteStore(platform.store.path)
    with other.transaction() as tx:
        tx.add_consent(
            ConsentRecord(
                "c-other", rid, CROSSING, PURPOSE, (sample.TRAFFIC,), 0, None, None, "cli"
            )
        )
        tx.bump_rights_version()
    other.close()
    now = platform.clock.now()
    [out] = platform.gate.ingest([city.envelope(city.traffic, [crossing(now, FOB)])])
    assert out.admitted == 1 and not out.rejected
