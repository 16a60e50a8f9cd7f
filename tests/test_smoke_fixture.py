from charter.bootstrap import Platform
from tests.conftest import SampleCity


def test_the_test_city_admits_an_honest_air_reading(platform: Platform, city: SampleCity) -> None:
    [out] = platform.gate.ingest([city.envelope(city.air)])
    assert out.admitted == 1 and out.rejection is None
    assert platform.store.count_readings() == 1
