"""The storage floor beside the batch-upsert figure re-inserts exactly the upserted rows."""

from __future__ import annotations

from fastapi.testclient import TestClient

from charter.api.app import create_app
from charter.auth import Role
from charter.bench.ngsild import _entity, _entity_id
from charter.bench.ngsild_floor import storage_floor
from charter.bootstrap import Platform
from charter.store import schema as s

HEADERS = {"Content-Type": "application/json"}


def test_the_floor_inserts_the_rows_of_the_entities_in_its_range_and_no_others(
    any_platform: Platform,
) -> None:
    token = any_platform.security.issuer.issue("floor", Role.OPERATOR)
    settings = any_platform.settings
    lo, hi = _entity_id(10), _entity_id(30)
    with TestClient(create_app(any_platform)) as client:
        for again in (False, True):
            done = client.post(
                "/ngsi-ld/v1/entityOperations/upsert",
                json=[_entity(i) for i in range(30)],
                headers={**HEADERS, "Authorization": f"Bearer {token}"},
            )
            assert done.status_code == (204 if again else 201), done.text
            floor = storage_floor(settings.data_dir, settings.database_url, lo, hi, 8)
            # 20 entities (10 below the range are left out), each with its type and its
            # three attributes' queryable values; the history holds no current instance,
            # so only the second upsert's superseded three instances an entity.
            assert floor.entities == 20
            assert floor.rows == {
                s.ngsild_entities.name: 20,
                s.ngsild_entity_types.name: 20,
                s.ngsild_attr_values.name: 60,
                s.ngsild_attr_instances.name: 60 if again else 0,
            }
    assert floor.per_s > 0


def test_an_empty_range_has_no_floor(any_platform: Platform) -> None:
    settings = any_platform.settings
    floor = storage_floor(settings.data_dir, settings.database_url, _entity_id(0), _entity_id(9), 8)
    assert (floor.entities, floor.per_s) == (0, 0.0)
