"""Property: over random consent histories, a personal reading is admitted exactly
when its resident holds a valid consent for its category and project at that moment."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charter.bootstrap import build
from charter.domain.clock import FixedClock
from charter.settings import Settings
from charter.sim import city as sample
from tests.conftest import OPERATOR, START, SampleCity
from tests.rights.support import CROSSING, as_resident, crossing

RESIDENTS = 3
FOBS = [f"FOB-prop-{i:04d}" for i in range(RESIDENTS)] + ["FOB-never-linked"]

op = st.one_of(
    st.tuples(
        st.just("grant"),
        st.integers(0, RESIDENTS - 1),
        st.sampled_from([sample.TRAFFIC, sample.AIR]),  # AIR is out of scope for crossings
        st.one_of(st.none(), st.integers(1, 120)),  # expiry in minutes
    ),
    st.tuples(st.just("withdraw"), st.integers(0, RESIDENTS - 1), st.integers(0, 3)),
    st.tuples(st.just("wait"), st.integers(1, 90)),
    st.tuples(st.just("ingest"), st.integers(0, RESIDENTS)),
)


@dataclass
class Model:
    # per resident: [(consent id, granted, expires, withdrawn)]
    consents: dict[int, list[list[object]]] = field(default_factory=dict)

    def valid(self, who: int, now: int) -> bool:
        for _cid, granted, expires, withdrawn in self.consents.get(who, []):
            assert isinstance(granted, int)
            if withdrawn is None and granted <= now and (expires is None or now < expires):  # type: ignore[operator]
                return True
        return False


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(op, min_size=1, max_size=25))
def test_no_personal_reading_is_admitted_without_valid_consent(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    clock = FixedClock(START)
    with tempfile.TemporaryDirectory() as tmp:
        platform = build(Settings(data_dir=Path(tmp)), clock=clock)
        try:
            city = SampleCity(platform)
            rights = platform.rights
            ids = [rights.residents.create(OPERATOR).id for _ in range(RESIDENTS)]
            for rid, fob in zip(ids, FOBS, strict=False):
                rights.residents.link_verified(rid, fob, "fob", OPERATOR, "shown")
            model = Model()
            for step in ops:
                now_ms = int(clock.now().timestamp() * 1000)
                if step[0] == "grant":
                    _, who, project, minutes = step
                    expires = clock.now() + timedelta(minutes=minutes) if minutes else None
                    if project != sample.TRAFFIC:
                        continue  # not declared there: refused, checked elsewhere
                    done = rights.consents.grant(
                        ids[who],
                        category=CROSSING,
                        purpose="crossing-assistance",
                        projects=[project],
                        actor=as_resident(ids[who]),
                        expires_at=expires,
                    )
                    exp_ms = done.consent.expires_at
                    model.consents.setdefault(who, []).append(
                        [done.consent.id, now_ms, exp_ms, None]
                    )
                elif step[0] == "withdraw":
                    _, who, k = step
                    open_ = [c for c in model.consents.get(who, []) if c[3] is None]
                    if not open_:
                        continue
                    c = open_[k % len(open_)]
                    rights.consents.withdraw(ids[who], str(c[0]), as_resident(ids[who]))
                    c[3] = now_ms
                elif step[0] == "wait":
                    clock.advance(timedelta(minutes=step[1]))
                else:
                    who = step[1]
                    env = city.envelope(city.traffic, [crossing(clock.now(), FOBS[who])])
                    [out] = platform.gate.ingest([env])
                    expected = who < RESIDENTS and model.valid(who, now_ms)
                    assert out.admitted == (1 if expected else 0), (step, model.consents)
                    if not expected:
                        assert out.rejected == {"NO_CONSENT": 1}
            stored = platform.store.personal_readings()
            assert all(row[8] in ids for row in stored)
        finally:
            platform.close()
