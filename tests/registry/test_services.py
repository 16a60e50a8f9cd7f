"""A city service disabled by the two-person rule is disabled in the store, for every process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from charter.bootstrap import Platform, build
from charter.domain.clock import FixedClock
from charter.domain.errors import CharterError
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.security.approvals import ActionKind
from charter.settings import Settings
from tests.services import pg_database

ALICE = Actor(name="alice", role="operator")
BOB = Actor(name="bob", role="council")


@contextmanager
def two_platforms(
    store: str, tmp_path: Path, clock: FixedClock
) -> Iterator[tuple[Platform, Platform]]:
    """Two platforms (as two processes would be) over one store: `a` writes, `b` reads.

    (One ledger writer: the ledger's appends are not yet safe from two processes.)"""

    @contextmanager
    def url() -> Iterator[str | None]:
        if store == "sqlite":
            yield None
        else:
            with pg_database() as u:
                yield u

    with url() as database_url:
        settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
        a = build(settings, clock=clock)
        b = build(settings, clock=clock)
        try:
            yield a, b
        finally:
            a.close()
            b.close()


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_an_approved_disable_service_is_a_state_every_platform_reads(
    store: str, tmp_path: Path, clock: FixedClock
) -> None:
    with two_platforms(store, tmp_path, clock) as (a, b):
        assert not a.registry.service_disabled("signals")
        action = a.security.approvals.propose(
            ActionKind.DISABLE_SERVICE, {"service": "signals"}, ALICE, "faulty timing plan"
        )
        # Proposed is not disabled: one person cannot switch a service off.
        assert not a.registry.service_disabled("signals")
        assert not b.registry.service_disabled("signals")
        done = a.security.approvals.approve(action.id, BOB, "agreed")
        assert done.result == {"disabled": "signals"}
        assert a.registry.service_disabled("signals") and b.registry.service_disabled("signals")
        assert not a.registry.service_disabled("snowmelt")
        assert a.registry.services.all_disabled() == ["signals"]

        # Switching it on again takes two people too.
        action = a.security.approvals.propose(
            ActionKind.ENABLE_SERVICE, {"service": "signals"}, BOB, "plan fixed"
        )
        assert b.registry.service_disabled("signals")
        a.security.approvals.approve(action.id, ALICE, "checked")
        assert not a.registry.service_disabled("signals")
        assert not b.registry.service_disabled("signals")
        kinds = [e.kind for e in a.store.ledger_entries(0, a.store.ledger_size())]
        assert kinds[-2:] == ["approval.approved", "service.enabled"]


def test_a_badly_named_service_is_refused_when_proposed(platform: Platform) -> None:
    with pytest.raises(CharterError) as e:
        platform.security.approvals.propose(
            ActionKind.DISABLE_SERVICE, {"service": "Signals; DROP"}, ALICE, "x"
        )
    assert e.value.reason is Reason.VALIDATION_FAILED
    assert platform.security.approvals.list() == []
