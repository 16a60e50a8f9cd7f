"""A withdrawal is effective at once, also while other threads keep ingesting.

Threads send envelopes with a consenting resident's crossing requests as fast
as the gate takes them; the consent is withdrawn in the middle, in this process
(through the service) or by another process (another store over the same file).
Once the withdrawal has returned, not one more reading of that resident is stored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from charter.bootstrap import Platform, build
from charter.device import DeviceSigner
from charter.domain.clock import FixedClock, to_ms
from charter.settings import Settings
from charter.sim import city as sample
from charter.store.sqlite import SqliteStore
from tests.conftest import SampleCity
from tests.gate.test_consent import count
from tests.rights.support import as_resident, crossing, resident

FOB = "FOB-race-0001"
THREADS = 3
ENVELOPES = 400


@pytest.fixture
def platform(tmp_path: Path, clock: FixedClock) -> Iterator[Platform]:
    """Devices may send as fast as the gate takes them here: this is about consent,
    not rate limits (on the fixed clock a device's allowance would never refill)."""
    p = build(Settings(data_dir=tmp_path / "data", device_burst=1_000_000), clock=clock)
    yield p
    p.close()


def _signed(platform: Platform, city: SampleCity, i: int) -> list[bytes]:
    signer: DeviceSigner = city.device(
        f"race{i}",
        sample.TRUSTED,
        sample.TRAFFIC,
        ["traffic.count", "pedestrian.crossing_request"],
    )
    now = platform.clock.now()
    return [
        signer.envelope(seq, now, [crossing(now, FOB), count(now)])
        for seq in range(1, ENVELOPES + 1)
    ]


@pytest.mark.parametrize("where", ["this process", "another process"])
def test_no_reading_is_admitted_after_the_withdrawal_returns(
    platform: Platform, city: SampleCity, where: str
) -> None:
    rid, cid = resident(platform, FOB)
    assert cid is not None
    streams = [_signed(platform, city, i) for i in range(THREADS)]
    stop = threading.Event()
    sent = [0] * THREADS
    errors: list[BaseException] = []

    def send(i: int) -> None:
        try:
            for body in streams[i]:
                if stop.is_set():
                    return
                platform.gate.ingest([body])
                sent[i] += 1
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    while len(platform.store.personal_readings(subject=rid)) < 10:
        assert all(t.is_alive() for t in threads) or errors == [], errors
        time.sleep(0.001)
    if where == "this process":
        platform.rights.consents.withdraw(rid, cid, as_resident(rid))
    else:
        assert isinstance(platform.store, SqliteStore)
        other = SqliteStore(platform.store.path)
        with other.transaction() as tx:
            tx.withdraw_consent(cid, to_ms(platform.clock.now()))
            tx.bump_rights_version()
        other.close()
    held = len(platform.store.personal_readings(subject=rid))
    sent_at_withdrawal = sum(sent)
    # Let the threads go on well past the withdrawal.
    while sum(sent) < sent_at_withdrawal + 60 and any(t.is_alive() for t in threads):
        time.sleep(0.001)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(sent) >= sent_at_withdrawal + 60
    assert len(platform.store.personal_readings(subject=rid)) == held
    # The traffic counts in the same envelopes kept flowing.
    assert platform.store.count_readings() >= sum(sent) + held
