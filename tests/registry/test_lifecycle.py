"""Every rule of a project's life: consultation on the clock, the council's decision,
amendments enforced only once approved, back-dated changes refused, nothing half-applied."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from charter.bootstrap import Platform, build
from charter.device import DeviceSigner, SimReading
from charter.domain.clock import FixedClock
from charter.domain.consultation import APPROVE, REJECT, ConsultationStatus, Stance
from charter.domain.disclosure import Access, Capability, DeviceDisclosure
from charter.domain.errors import CharterError
from charter.domain.model import Device, Location, Project, ProjectStatus, urn
from charter.domain.reasons import Reason
from charter.gate.batch import Outcome
from charter.settings import Settings
from charter.sim import city as sample
from tests.conftest import SampleCity
from tests.registry.support import (
    COUNCIL,
    NOISE,
    OPERATOR,
    noise_project,
    past_consultation,
    to_consultation,
)


def fails(reason: Reason, fn: object, *args: object, **kwargs: object) -> CharterError:
    assert callable(fn)
    with pytest.raises(CharterError) as info:
        fn(*args, **kwargs)
    assert info.value.reason is reason, info.value.detail
    return info.value


def last_entry(platform: Platform) -> dict[str, object]:
    [entry] = platform.store.ledger_entries(platform.ledger.size - 1, platform.ledger.size)
    data: dict[str, object] = json.loads(entry.data)
    return data


def test_consultation_lasts_the_configured_days_on_the_clock(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    to_consultation(platform)
    [c] = platform.store.consultations(NOISE)
    assert c.status is ConsultationStatus.OPEN
    assert c.closes_at - c.opened_at == 60 * 24 * 3600 * 1000
    entry = last_entry(platform)
    assert (entry["old"], entry["new"], entry["consultation"]) == ("draft", "consultation", c.id)
    clock.advance(timedelta(days=59, hours=23))
    fails(
        Reason.CONSULTATION_NOT_OVER, platform.registry.decide, NOISE, APPROVE, COUNCIL, "too soon"
    )
    clock.advance(timedelta(hours=1))
    assert (
        platform.registry.decide(NOISE, APPROVE, COUNCIL, "vote").status is ProjectStatus.APPROVED
    )
    [c] = platform.store.consultations(NOISE)
    assert c.status is ConsultationStatus.APPROVED and c.why == "vote"


def test_the_city_configures_the_length(tmp_path: Path, clock: FixedClock) -> None:
    p = build(Settings(data_dir=tmp_path / "d", consultation_days=90), clock=clock)
    try:
        for v in sample.vendors():
            p.registry.register_vendor(v, OPERATOR)
        to_consultation(p)
        [c] = p.store.consultations(NOISE)
        assert c.closes_at - c.opened_at == 90 * 24 * 3600 * 1000
    finally:
        p.close()


def test_only_the_council_decides(platform: Platform, city: SampleCity) -> None:
    # The flood project's consultation has ended (see the city fixture).
    fails(Reason.FORBIDDEN, platform.registry.decide, sample.FLOOD, APPROVE, OPERATOR, "me")
    assert platform.store.get_project(sample.FLOOD).status is ProjectStatus.CONSULTATION  # type: ignore[union-attr]


def test_approval_needs_every_theme_answered(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    to_consultation(platform)
    fb = platform.registry.feedback
    c1 = fb.comment(NOISE, "Too loud at night already", Stance.OPPOSE, "198.51.100.1")
    theme = fb.add_theme(NOISE, "Night noise", "People worry about nights", [c1.id], OPERATOR)
    past_consultation(platform, clock)
    size = platform.ledger.size
    err = fails(Reason.THEMES_UNANSWERED, platform.registry.decide, NOISE, APPROVE, COUNCIL, "vote")
    assert "Night noise" in err.detail
    assert platform.ledger.size == size
    assert platform.store.get_project(NOISE).status is ProjectStatus.CONSULTATION  # type: ignore[union-attr]
    fb.respond(theme.id, "We measure nights separately.", OPERATOR)
    assert (
        platform.registry.decide(NOISE, APPROVE, COUNCIL, "vote").status is ProjectStatus.APPROVED
    )


def test_rejection_after_the_period(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    to_consultation(platform)
    past_consultation(platform, clock)
    assert (
        platform.registry.decide(NOISE, REJECT, COUNCIL, "no benefit").status is ProjectStatus.DRAFT
    )
    entry = last_entry(platform)
    assert (entry["old"], entry["new"], entry["outcome"]) == ("consultation", "draft", "rejected")
    assert entry["actor"] == {"name": "test-council", "role": "council"}
    [c] = platform.store.consultations(NOISE)
    assert c.status is ConsultationStatus.REJECTED


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (ProjectStatus.LIVE, "going live without approval"),
        (ProjectStatus.SUSPENDED, "suspending a draft"),
    ],
)
def test_out_of_order_transitions_are_refused(
    platform: Platform, city: SampleCity, status: ProjectStatus, why: str
) -> None:
    platform.registry.create_project(noise_project(), OPERATOR)
    size = platform.ledger.size
    fails(
        Reason.INVALID_TRANSITION,
        platform.registry.set_project_status,
        NOISE,
        status,
        OPERATOR,
        why,
    )
    fails(
        Reason.INVALID_TRANSITION,
        platform.registry.decide,
        NOISE,
        APPROVE,
        COUNCIL,
        "no consultation",
    )
    assert platform.ledger.size == size


def test_approval_during_consultation_is_refused(platform: Platform, city: SampleCity) -> None:
    to_consultation(platform)
    fails(Reason.CONSULTATION_NOT_OVER, platform.registry.decide, NOISE, APPROVE, COUNCIL, "hurry")
    fails(
        Reason.INVALID_TRANSITION,
        platform.registry.set_project_status,
        NOISE,
        ProjectStatus.LIVE,
        OPERATOR,
        "no",
    )


def test_withdrawing_a_consultation_closes_it(platform: Platform, city: SampleCity) -> None:
    to_consultation(platform)
    platform.registry.set_project_status(NOISE, ProjectStatus.DRAFT, OPERATOR, "rework")
    [c] = platform.store.consultations(NOISE)
    assert c.status is ConsultationStatus.WITHDRAWN
    fails(
        Reason.CONSULTATION_CLOSED,
        platform.registry.feedback.comment,
        NOISE,
        "hello",
        Stance.COMMENT,
        "x",
    )


def test_an_incomplete_disclosure_cannot_go_to_consultation_and_names_each_field(
    platform: Platform, city: SampleCity
) -> None:
    bare = noise_project(disclosure=None)
    platform.registry.create_project(bare, OPERATOR)  # a draft may be unfinished
    size = platform.ledger.size
    err = fails(
        Reason.DISCLOSURE_INCOMPLETE, platform.registry.open_consultation, NOISE, OPERATOR, "x"
    )
    assert [e["field"] for e in err.errors] == ["disclosure"]  # type: ignore[attr-defined]
    assert platform.ledger.size == size
    assert platform.store.get_project(NOISE).status is ProjectStatus.DRAFT  # type: ignore[union-attr]
    assert platform.store.consultations(NOISE) == []


def test_every_principle_needs_a_statement(platform: Platform, city: SampleCity) -> None:
    project = noise_project()
    assert project.disclosure is not None
    principles = dict(project.disclosure.principles)
    principles.pop("inclusive")
    principles.pop("evidence")
    d = project.disclosure.model_copy(update={"principles": principles})
    platform.registry.create_project(project.model_copy(update={"disclosure": d}), OPERATOR)
    err = fails(
        Reason.DISCLOSURE_INCOMPLETE, platform.registry.open_consultation, NOISE, OPERATOR, "x"
    )
    fields = {e["field"] for e in err.errors}  # type: ignore[attr-defined]
    assert fields == {"disclosure.principles.evidence", "disclosure.principles.inclusive"}


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Facial recognition at the station"},
        {"purpose": "Predict crimes by individuals from their movements."},
        {"technologies": ["emotion recognition camera"]},
    ],
)
def test_a_prohibited_use_is_refused_outright_with_the_rule(
    platform: Platform, city: SampleCity, change: dict[str, object]
) -> None:
    project = noise_project()
    assert project.disclosure is not None
    if "technologies" in change:
        d = project.disclosure.model_copy(update=change)
        project = project.model_copy(update={"disclosure": d})
    else:
        project = project.model_copy(update=change)
    size = platform.ledger.size
    err = fails(Reason.PROHIBITED_USE, platform.registry.create_project, project, OPERATOR)
    assert "No " in err.detail
    assert platform.store.get_project(NOISE) is None
    assert platform.ledger.size == size


def test_a_prohibited_device_is_refused(platform: Platform, city: SampleCity) -> None:
    signer = DeviceSigner(urn("Device", "cam-1"))
    device = Device(
        id=signer.device_id,
        vendor_id=sample.TRUSTED,
        project_id=sample.AIR,
        modality="camera with face recognition",
        location=Location(lat=52.36, lon=4.9),
        categories=["air.quality"],
        public_key=signer.public_key_b64,
    )
    err = fails(Reason.PROHIBITED_USE, platform.registry.register_device, device, OPERATOR)
    assert "remote-biometric-identification" in err.detail
    assert platform.store.get_device(signer.device_id) is None


def test_backdated_changes_are_refused(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    platform.registry.create_project(noise_project(), OPERATOR)
    size = platform.ledger.size
    earlier = clock.now() - timedelta(days=1)
    fails(Reason.BACKDATED, platform.registry.open_consultation, NOISE, OPERATOR, "x", at=earlier)
    # A clock that stands before the record's last change cannot change it either.
    clock.advance(timedelta(hours=-1))
    fails(Reason.BACKDATED, platform.registry.open_consultation, NOISE, OPERATOR, "x")
    assert platform.ledger.size == size
    assert platform.store.consultations(NOISE) == []
    clock.advance(timedelta(hours=1))
    platform.registry.open_consultation(NOISE, OPERATOR, "x", at=clock.now())


# amendments -------------------------------------------------------------------------------


def test_a_material_amendment_goes_to_consultation_and_the_gate_keeps_the_approved_version(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    air = platform.store.get_project(sample.AIR)
    assert air is not None
    noise = sample.DataCategory(
        name="noise.level",
        description="Sound level in dB(A).",
        personal=False,
        retention_days=30,
        fields={"db": sample.FieldSpec(type="number", unit="dB", minimum=0, maximum=200)},
        disclosure=sample.AIR_QUALITY.disclosure,
    )
    proposal = air.model_copy(update={"categories": [*air.categories, noise]})
    same = platform.registry.amend(proposal, OPERATOR, "add noise")
    assert [c.name for c in same.categories] == ["air.quality"]  # the approved version stays
    entry = last_entry(platform)
    assert entry["kind"] == "project.amendment"
    assert entry["changes"] == ["new data category noise.level"]
    assert platform.store.get_project(sample.AIR).status is ProjectStatus.LIVE  # type: ignore[union-attr]

    # The gate enforces what was approved: the new category is refused until the council says yes.
    def send_noise() -> Outcome:
        now = platform.clock.now()
        reading = SimReading("noise.level", now, {"db": 55.0}, {"db": "dB"})
        [out] = platform.gate.ingest([city.envelope(city.air, [reading])])
        return out

    out = send_noise()
    assert out.admitted == 0
    assert out.rejected == {"UNDECLARED_CATEGORY": 1}
    [ok] = platform.gate.ingest([city.envelope(city.air)])
    assert ok.admitted == 1  # approved categories keep flowing

    fails(Reason.CONFLICT, platform.registry.amend, proposal, OPERATOR, "again")
    fails(
        Reason.CONSULTATION_NOT_OVER, platform.registry.decide, sample.AIR, APPROVE, COUNCIL, "vote"
    )
    past_consultation(platform, clock)
    approved = platform.registry.decide(sample.AIR, APPROVE, COUNCIL, "vote")
    assert approved.status is ProjectStatus.LIVE
    assert [c.name for c in approved.categories] == ["air.quality", "noise.level"]
    assert last_entry(platform)["outcome"] == "approved"
    out = send_noise()
    # Declared now; this device is not yet registered for it, which the gate also checks.
    assert out.rejected == {"CATEGORY_NOT_ALLOWED": 1}


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        ("retention", "longer retention of air.quality"),
        ("vendor", f"vendor {sample.UNTRUSTED} removed"),
        ("area", "a larger area"),
    ],
)
def test_material_changes_are_recognised(
    platform: Platform, city: SampleCity, what: str, expected: str
) -> None:
    traffic = platform.store.get_project(sample.FLOOD)
    assert traffic is not None
    air = platform.store.get_project(sample.AIR)
    assert air is not None and air.disclosure is not None
    if what == "retention":
        cats = [
            c.model_copy(update={"retention_days": c.retention_days + 1}) for c in air.categories
        ]
        proposal = air.model_copy(update={"categories": cats})
    elif what == "vendor":
        proposal = air.model_copy(update={"vendor_ids": [sample.TRUSTED]})
    else:
        big = sample.Area(
            coordinates=[[(4.0, 52.0), (5.5, 52.0), (5.5, 53.0), (4.0, 53.0), (4.0, 52.0)]]
        )
        proposal = air.model_copy(
            update={"disclosure": air.disclosure.model_copy(update={"area": big})}
        )
    platform.registry.amend(proposal, OPERATOR, "change")
    entry = last_entry(platform)
    assert entry["kind"] == "project.amendment"
    assert expected in entry["changes"]  # type: ignore[operator]


def test_declassifying_personal_data_goes_to_consultation_and_consent_stays_enforced(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    """An operator alone cannot switch consent off by calling a personal category non-personal."""
    traffic = platform.store.get_project(sample.TRAFFIC)
    assert traffic is not None
    cats = [  # every personal category (crossing requests, mobility assistance)
        c.model_copy(update={"personal": False, "identifier": None}) if c.personal else c
        for c in traffic.categories
    ]
    # While the fob reader is declared, a category without persons contradicts it...
    fails(
        Reason.DISCLOSURE_INCOMPLETE,
        platform.registry.amend,
        traffic.model_copy(update={"categories": cats}),
        OPERATOR,
        "not personal",
    )
    # ...and with it gone too, the change is material: it waits for the public and the council.
    assert traffic.disclosure is not None
    d = traffic.disclosure.model_copy(update={"capabilities": [Capability.VEHICLE_DETECTION]})
    kept = platform.registry.amend(
        traffic.model_copy(update={"categories": cats, "disclosure": d}), OPERATOR, "not personal"
    )
    assert kept == traffic
    entry = last_entry(platform)
    assert entry["kind"] == "project.amendment"
    assert "pedestrian.crossing_request is no longer declared personal" in entry["changes"]  # type: ignore[operator]
    # The gate still enforces the approved version: no consent, no fob.
    fob = "FOB-resident-0042"
    now = platform.clock.now()
    reading = SimReading(
        "pedestrian.crossing_request", now, {"fob": fob, "extra_seconds": 5}, {"extra_seconds": "s"}
    )
    [out] = platform.gate.ingest([city.envelope(city.traffic, [reading])])
    assert out.admitted == 0 and out.rejected == {"NO_CONSENT": 1}
    assert [r for r in platform.store.readings() if fob in r.body] == []
    # Only the council, after the consultation, can make it take effect.
    past_consultation(platform, clock)
    fails(Reason.FORBIDDEN, platform.registry.decide, sample.TRAFFIC, APPROVE, OPERATOR, "me")
    platform.registry.decide(sample.TRAFFIC, REJECT, COUNCIL, "stays personal")
    assert platform.store.get_project(sample.TRAFFIC) == traffic


def test_a_shorter_retention_or_narrower_access_is_material_too(
    platform: Platform, city: SampleCity
) -> None:
    air = platform.store.get_project(sample.AIR)
    assert air is not None
    [cat] = air.categories
    assert cat.disclosure is not None
    narrower = cat.disclosure.model_copy(update={"access": [Access.CITY]})
    cats = [cat.model_copy(update={"retention_days": 30, "disclosure": narrower})]
    assert (
        platform.registry.amend(air.model_copy(update={"categories": cats}), OPERATOR, "x") == air
    )
    assert last_entry(platform)["changes"] == [
        "shorter retention of air.quality",
        "access of air.quality changes (removes residents)",
    ]


def test_a_change_that_is_not_material_applies_at_once(
    platform: Platform, city: SampleCity
) -> None:
    air = platform.store.get_project(sample.AIR)
    assert air is not None
    changed = platform.registry.amend(
        air.model_copy(update={"name": "Clean air on every street, phase 2"}), OPERATOR, "rename"
    )
    assert changed.name.endswith("phase 2") and changed.status is ProjectStatus.LIVE
    assert last_entry(platform)["kind"] == "project.updated"
    assert platform.store.consultations(sample.AIR)[-1].status is ConsultationStatus.APPROVED


def test_rejecting_an_amendment_keeps_the_approved_version(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    air = platform.store.get_project(sample.AIR)
    assert air is not None
    cats = [c.model_copy(update={"retention_days": 9999}) for c in air.categories]
    platform.registry.amend(air.model_copy(update={"categories": cats}), OPERATOR, "keep longer")
    past_consultation(platform, clock)
    kept = platform.registry.decide(
        sample.AIR, REJECT, COUNCIL, "no reason given for keeping longer"
    )
    assert kept.categories[0].retention_days == 730
    assert platform.store.get_project(sample.AIR).categories[0].retention_days == 730  # type: ignore[union-attr]


def test_retiring_withdraws_a_pending_amendment(platform: Platform, city: SampleCity) -> None:
    air = platform.store.get_project(sample.AIR)
    assert air is not None
    cats = [c.model_copy(update={"retention_days": 9999}) for c in air.categories]
    platform.registry.amend(air.model_copy(update={"categories": cats}), OPERATOR, "keep longer")
    platform.registry.set_project_status(sample.AIR, ProjectStatus.RETIRED, OPERATOR, "ended")
    assert platform.store.consultations(sample.AIR)[-1].status is ConsultationStatus.WITHDRAWN


def test_only_an_approved_project_is_amended(platform: Platform, city: SampleCity) -> None:
    platform.registry.create_project(noise_project(), OPERATOR)
    fails(Reason.INVALID_TRANSITION, platform.registry.amend, noise_project(), OPERATOR, "x")


# the gate and the register ------------------------------------------------------------------


def test_the_gate_refuses_devices_not_on_the_register_or_not_under_a_live_project(
    platform: Platform, city: SampleCity
) -> None:
    stranger = DeviceSigner(urn("Device", "not-on-register"))
    [out] = platform.gate.ingest([city.envelope(stranger)])
    assert out.rejection is not None and out.rejection.reason is Reason.NOT_REGISTERED
    [out] = platform.gate.ingest([city.envelope(city.flood)])  # in consultation
    assert out.rejection is not None and out.rejection.reason is Reason.PROJECT_NOT_LIVE
    for status in (ProjectStatus.SUSPENDED, ProjectStatus.RETIRED):
        platform.registry.set_project_status(sample.AIR, status, OPERATOR, "test")
        [out] = platform.gate.ingest([city.envelope(city.air)])
        assert out.rejection is not None and out.rejection.reason is Reason.PROJECT_NOT_LIVE


def test_the_city_configures_principles_and_prohibited_uses(
    tmp_path: Path, clock: FixedClock
) -> None:
    cfg = tmp_path / "charter.toml"
    cfg.write_text(
        "[charter]\n"
        'principles = ["climate: Serve the climate plan"]\n'
        'prohibited_uses = ["licence plate recognition"]\n'
    )
    p = build(Settings.load(cfg, data_dir=tmp_path / "d"), clock=clock)
    try:
        for v in sample.vendors():
            p.registry.register_vendor(v, OPERATOR)
        project = noise_project()
        p.registry.create_project(project, OPERATOR)
        err = fails(
            Reason.DISCLOSURE_INCOMPLETE, p.registry.open_consultation, NOISE, OPERATOR, "x"
        )
        assert err.errors == [  # type: ignore[attr-defined]
            {
                "field": "disclosure.principles.climate",
                "message": "state how the project meets: Serve the climate plan",
            }
        ]
        anpr = urn("Project", "anpr")
        err = fails(
            Reason.PROHIBITED_USE,
            p.registry.create_project,
            noise_project(id=anpr, name="Licence plate recognition at the ring road"),
            OPERATOR,
        )
        assert "No use of licence plate recognition." in err.detail
        # Facial recognition is not on this city's list, so the default rule does not apply.
        p.registry.create_project(
            noise_project(id=urn("Project", "x"), name="Face count"), OPERATOR
        )
    finally:
        p.close()


def test_a_step_whose_ledger_entry_fails_leaves_nothing_behind(
    platform: Platform, city: SampleCity, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the ledger append fails after the consultation row was written."""
    from charter.ledger.log import LedgerTx

    platform.registry.create_project(noise_project(), OPERATOR)
    size = platform.ledger.size

    def broken(*_a: object, **_k: object) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(LedgerTx, "record", broken)
    with pytest.raises(OSError):
        platform.registry.open_consultation(NOISE, OPERATOR, "exhibition")
    monkeypatch.undo()
    assert platform.store.consultations(NOISE) == []
    assert platform.store.get_project(NOISE).status is ProjectStatus.DRAFT  # type: ignore[union-attr]
    assert platform.ledger.size == size
    # And the step succeeds afterwards, as if the failed attempt never happened.
    platform.registry.open_consultation(NOISE, OPERATOR, "exhibition")
    assert [c.id for c in platform.store.consultations(NOISE)] != []


# capabilities ----------------------------------------------------------------------------


def _with_capabilities(*caps: Capability, **project: object) -> Project:
    p = noise_project(**project)
    assert p.disclosure is not None
    return p.model_copy(
        update={"disclosure": p.disclosure.model_copy(update={"capabilities": list(caps)})}
    )


@pytest.mark.parametrize(
    ("capability", "rule"),
    [
        (Capability.FACIAL_RECOGNITION, "remote-biometric-identification"),
        (Capability.GAIT_ANALYSIS, "remote-biometric-identification"),
        (Capability.EMOTION_RECOGNITION, "emotion-recognition"),
        (Capability.INDIVIDUAL_RISK_SCORING, "predictive-policing"),
    ],
)
def test_a_prohibited_capability_is_refused_however_the_project_words_it(
    platform: Platform, city: SampleCity, capability: Capability, rule: str
) -> None:
    # No prohibited word anywhere: the free-text net lets this paraphrase through...
    words = {"name": "Knowing who passes the station", "purpose": "Tell regulars from strangers."}
    size = platform.ledger.size
    err = fails(
        Reason.PROHIBITED_USE,
        platform.registry.create_project,
        _with_capabilities(Capability.VIDEO_RECORDING, capability, **words),
        OPERATOR,
    )
    # ...the declared capability does not.
    assert err.errors == [  # type: ignore[attr-defined]
        {
            "field": "disclosure.capabilities",
            "message": f"{rule}: {_rule_text(rule)} ({capability.value} declared)",
        }
    ]
    assert platform.store.get_project(NOISE) is None and platform.ledger.size == size


def _rule_text(rule_id: str) -> str:
    from charter.domain.principles import CATALOGUE

    return CATALOGUE[rule_id].rule


def test_every_project_says_what_its_technology_does_before_consultation(
    platform: Platform, city: SampleCity
) -> None:
    platform.registry.create_project(_with_capabilities(), OPERATOR)
    err = fails(
        Reason.DISCLOSURE_INCOMPLETE, platform.registry.open_consultation, NOISE, OPERATOR, "x"
    )
    assert [e["field"] for e in err.errors] == ["disclosure.capabilities"]  # type: ignore[attr-defined]


def test_an_identifying_capability_needs_personal_data_declared(
    platform: Platform, city: SampleCity
) -> None:
    err = fails(
        Reason.DISCLOSURE_INCOMPLETE,
        platform.registry.create_project,
        _with_capabilities(Capability.IMAGE_CAPTURE, Capability.LICENCE_PLATE_READING),
        OPERATOR,
    )
    assert "licence-plate-reading identifies people" in err.detail


def test_a_device_uses_only_capabilities_its_project_declared_and_none_prohibited(
    platform: Platform, city: SampleCity
) -> None:
    def device(*caps: Capability) -> Device:
        signer = DeviceSigner(urn("Device", "cam-2"))
        return Device(
            id=signer.device_id,
            vendor_id=sample.TRUSTED,
            project_id=sample.AIR,
            modality="street camera",
            location=Location(lat=52.36, lon=4.9),
            categories=["air.quality"],
            public_key=signer.public_key_b64,
            disclosure=DeviceDisclosure(capabilities=list(caps)),
        )

    err = fails(
        Reason.DISCLOSURE_INCOMPLETE,
        platform.registry.register_device,
        device(Capability.IMAGE_CAPTURE),
        OPERATOR,
    )
    assert err.errors == [  # type: ignore[attr-defined]
        {
            "field": "disclosure.capabilities",
            "message": "the project does not declare image-capture",
        }
    ]
    err = fails(
        Reason.PROHIBITED_USE,
        platform.registry.register_device,
        device(Capability.FACIAL_RECOGNITION),
        OPERATOR,
    )
    assert "remote-biometric-identification" in err.detail
    ok = platform.registry.register_device(device(Capability.ENVIRONMENTAL_SENSING), OPERATOR)
    assert ok.disclosure.capabilities == [Capability.ENVIRONMENTAL_SENSING]


def test_the_city_can_prohibit_a_capability_by_its_name(tmp_path: Path, clock: FixedClock) -> None:
    cfg = tmp_path / "charter.toml"
    cfg.write_text('[charter]\nprohibited_uses = ["licence-plate-reading"]\n')
    p = build(Settings.load(cfg, data_dir=tmp_path / "d"), clock=clock)
    try:
        for v in sample.vendors():
            p.registry.register_vendor(v, OPERATOR)
        project = _with_capabilities(
            Capability.LICENCE_PLATE_READING, categories=[sample.CROSSING_REQUEST]
        )
        err = fails(Reason.PROHIBITED_USE, p.registry.create_project, project, OPERATOR)
        assert "No licence plate reading." in err.detail
    finally:
        p.close()


def test_a_project_stored_before_capabilities_existed_still_loads() -> None:
    doc = noise_project().model_dump(mode="json")
    del doc["disclosure"]["capabilities"]
    assert Project.model_validate(doc).disclosure.capabilities == []  # type: ignore[union-attr]


def test_an_amendment_naming_an_unknown_vendor_is_refused(
    platform: Platform, city: SampleCity
) -> None:
    air = platform.store.get_project(sample.AIR)
    assert air is not None
    stranger = urn("Vendor", "nobody")
    proposal = air.model_copy(update={"vendor_ids": [*air.vendor_ids, stranger]})
    fails(Reason.NOT_FOUND, platform.registry.amend, proposal, OPERATOR, "new vendor")
    assert platform.store.consultations(sample.AIR)[-1].kind.value == "initial"


def test_a_device_beyond_the_consulted_area_is_refused(
    platform: Platform, city: SampleCity
) -> None:
    """Placing sensors outside the area the public saw would widen the project unconsulted."""
    signer = DeviceSigner(urn("Device", "far-away"))
    far = Device(
        id=signer.device_id,
        vendor_id=sample.TRUSTED,
        project_id=sample.AIR,
        modality="air quality station",
        location=Location(lat=48.85, lon=2.35),
        categories=["air.quality"],
        public_key=signer.public_key_b64,
    )
    err = fails(Reason.DISCLOSURE_INCOMPLETE, platform.registry.register_device, far, OPERATOR)
    assert err.errors == [  # type: ignore[attr-defined]
        {"field": "location", "message": "outside the area the project was consulted on"}
    ]
    wide = sample.Area(
        coordinates=[[(4.0, 52.0), (5.5, 52.0), (5.5, 53.0), (4.0, 53.0), (4.0, 52.0)]]
    )
    roaming = far.model_copy(
        update={"location": None, "disclosure": DeviceDisclosure(mobile=True, region=wide)}
    )
    err = fails(Reason.DISCLOSURE_INCOMPLETE, platform.registry.register_device, roaming, OPERATOR)
    assert [e["field"] for e in err.errors] == ["disclosure.region"]  # type: ignore[attr-defined]
    assert platform.store.get_device(signer.device_id) is None
