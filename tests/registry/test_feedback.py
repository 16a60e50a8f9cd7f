"""Residents' feedback: no account, limits per source, names kept apart, themes and responses."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from charter.bootstrap import Platform
from charter.domain.clock import FixedClock
from charter.domain.consultation import Stance
from charter.domain.errors import CharterError
from charter.domain.reasons import Reason
from charter.sim import city as sample
from charter.store import schema
from charter.store.sql import SqlStore
from tests.conftest import SampleCity
from tests.registry.support import NOISE, OPERATOR, past_consultation, to_consultation

ADDRESS = "203.0.113.7"


def refused(reason: Reason, fn: object, *args: object, **kwargs: object) -> CharterError:
    assert callable(fn)
    with pytest.raises(CharterError) as info:
        fn(*args, **kwargs)
    assert info.value.reason is reason, info.value.detail
    return info.value


@pytest.fixture
def open_noise(platform: Platform, city: SampleCity) -> Platform:
    to_consultation(platform)
    return platform


def test_anyone_comments_supports_or_opposes_and_counts_are_kept(open_noise: Platform) -> None:
    fb = open_noise.registry.feedback
    fb.comment(NOISE, "Good idea", Stance.SUPPORT, "a")
    fb.comment(NOISE, "", Stance.SUPPORT, "b")  # support without words is fine
    fb.comment(NOISE, "No thanks", Stance.OPPOSE, "c")
    fb.comment(NOISE, "What about trucks?", Stance.COMMENT, "d")
    [c] = open_noise.store.consultations(NOISE)
    assert open_noise.store.stance_counts(c.id) == {"support": 2, "oppose": 1, "comment": 1}


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\x00\x01"])
def test_an_empty_comment_is_refused(open_noise: Platform, text: str) -> None:
    refused(
        Reason.VALIDATION_FAILED,
        open_noise.registry.feedback.comment,
        NOISE,
        text,
        Stance.COMMENT,
        ADDRESS,
    )
    [c] = open_noise.store.consultations(NOISE)
    assert open_noise.store.comments(c.id) == []


def test_a_huge_comment_is_refused(open_noise: Platform) -> None:
    limit = open_noise.settings.comment_max_chars
    fb = open_noise.registry.feedback
    refused(Reason.VALIDATION_FAILED, fb.comment, NOISE, "x" * (limit + 1), Stance.OPPOSE, ADDRESS)
    assert fb.comment(NOISE, "x" * limit, Stance.OPPOSE, ADDRESS).text == "x" * limit


def test_html_and_script_are_stored_as_text(open_noise: Platform) -> None:
    text = "<script>alert('x')</script><b>bold</b>"
    c = open_noise.registry.feedback.comment(NOISE, text, Stance.COMMENT, ADDRESS)
    [stored] = open_noise.store.comments(c.consultation_id)
    assert stored.text == text  # kept as written; every page escapes it


def test_a_flood_from_one_source_is_rate_limited_but_others_may_speak(
    open_noise: Platform, clock: FixedClock
) -> None:
    fb = open_noise.registry.feedback
    limit = open_noise.settings.comments_per_hour
    for i in range(limit):
        fb.comment(NOISE, f"comment {i}", Stance.COMMENT, ADDRESS)
    refused(Reason.RATE_LIMITED, fb.comment, NOISE, "one more", Stance.COMMENT, ADDRESS)
    fb.comment(NOISE, "someone else", Stance.COMMENT, "198.51.100.2")
    clock.advance(timedelta(hours=1))
    fb.comment(NOISE, "an hour later", Stance.COMMENT, ADDRESS)


def test_the_source_is_a_keyed_hash_never_the_address(open_noise: Platform) -> None:
    open_noise.registry.feedback.comment(NOISE, "hi", Stance.COMMENT, ADDRESS)
    store = open_noise.store
    assert isinstance(store, SqlStore)
    with store.engine.connect() as conn:
        [source] = conn.execute(select(schema.comments.c.source)).scalars()
    assert ADDRESS not in source and len(source) == 64
    assert source == open_noise.registry.feedback.source_of(ADDRESS)


def test_names_and_contacts_are_kept_apart_and_never_published(open_noise: Platform) -> None:
    fb = open_noise.registry.feedback
    c = fb.comment(
        NOISE, "Call me", Stance.SUPPORT, ADDRESS, name="Jane Resident", contact="jane@example.org"
    )
    store = open_noise.store
    assert isinstance(store, SqlStore)
    with store.engine.connect() as conn:
        contact = conn.execute(select(schema.comment_contacts)).one()
        row = conn.execute(select(schema.comments)).one()
    assert (contact.comment_id, contact.name, contact.contact) == (
        c.id,
        "Jane Resident",
        "jane@example.org",
    )
    assert "Jane" not in json.dumps(row._asdict())
    # Nothing on the ledger names the commenter either.
    for entry in store.iter_ledger_entries():
        assert b"Jane" not in entry.data and b"jane@" not in entry.data


def test_comments_close_with_the_period_and_outside_consultation(
    open_noise: Platform, clock: FixedClock
) -> None:
    fb = open_noise.registry.feedback
    refused(
        Reason.CONSULTATION_CLOSED, fb.comment, sample.AIR, "live already", Stance.COMMENT, ADDRESS
    )
    refused(Reason.NOT_FOUND, fb.comment, "urn:ngsi-ld:Project:nope", "x", Stance.COMMENT, ADDRESS)
    past_consultation(open_noise, clock)
    refused(Reason.CONSULTATION_CLOSED, fb.comment, NOISE, "too late", Stance.COMMENT, ADDRESS)


def test_staff_group_comments_into_themes_and_publish_responses_on_the_ledger(
    open_noise: Platform, clock: FixedClock
) -> None:
    fb = open_noise.registry.feedback
    a = fb.comment(NOISE, "Trucks at night", Stance.OPPOSE, "a")
    b = fb.comment(NOISE, "Buses too", Stance.OPPOSE, "b")
    theme = fb.add_theme(NOISE, "Night traffic", "Heavy vehicles at night", [a.id], OPERATOR)
    fb.assign(theme.id, [b.id], OPERATOR)
    [c] = open_noise.store.consultations(NOISE)
    assert {m.theme_id for m in open_noise.store.comments(c.id)} == {theme.id}
    past_consultation(open_noise, clock)  # themes and responses may follow the period
    answered = fb.respond(theme.id, "We add night-time measurements.", OPERATOR)
    assert answered.response == "We add night-time measurements."
    [entry] = open_noise.store.ledger_entries(open_noise.ledger.size - 1, open_noise.ledger.size)
    data = json.loads(entry.data)
    assert (data["kind"], data["theme"], data["response"]) == (
        "consultation.response",
        theme.id,
        "We add night-time measurements.",
    )


def test_a_theme_takes_only_its_own_consultations_comments(
    open_noise: Platform, city: SampleCity
) -> None:
    fb = open_noise.registry.feedback
    refused(Reason.VALIDATION_FAILED, fb.add_theme, NOISE, "T", "", [999], OPERATOR)
    refused(Reason.VALIDATION_FAILED, fb.add_theme, NOISE, "", "", [], OPERATOR)
    refused(Reason.NOT_FOUND, fb.respond, 12345, "resp", OPERATOR)
