"""Charter's admitted readings as NGSI-LD entities of Smart Data Models types.

The bridge listens to the gate's committed readings (the bus topic
`charter.readings.admitted`) and upserts, per device and category, the entity
its category declares on the register (`DataCategory.ngsi`): e.g. an
AirQualityObserved `urn:ngsi-ld:AirQualityObserved:<device>` with `pm25`,
`no2`, `temperature` (observedAt, unitCode), `refDevice`, `location` and
`dateObserved`, so FIWARE dashboards read Charter's data. Its writes are the
gate's (ngsild.rights.GATE): the only writer of measurement entities. Personal
categories are not bridged (they stay encrypted in the readings; ngsild.rights).
Every instance is kept in the attribute history until the category's retention.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from charter.bus.base import TOPIC_READINGS
from charter.domain.clock import iso
from charter.domain.model import DataCategory
from charter.ngsild import sdm
from charter.ngsild.batch import BatchResult, Fragment, batch_write
from charter.ngsild.context import LOCAL, Contexts
from charter.ngsild.register import SDM_CONTEXT
from charter.ngsild.rights import GATE, CharterRights
from charter.store.base import ReadingRow

if TYPE_CHECKING:
    from charter.ngsild.service import NgsiLd

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
# UN/CEFACT common codes (Recommendation 20) of the units Charter's categories use.
UNIT_CODES = {
    "ug/m3": "GQ", "Cel": "CEL", "km/h": "KMH", "cm": "CMT", "m/s": "MTS", "count": "C62",
    "mm/h": "H67", "s": "SEC", "kg/m2": "28", "m": "MTR", "deg": "DD", "%": "P1",
}  # fmt: skip
_SDM = Contexts().resolve(SDM_CONTEXT) if SDM_CONTEXT in LOCAL else None


def type_iri(name: str) -> str:
    assert _SDM is not None
    return _SDM.expand(name) or name


def attribute_iri(name: str) -> str:
    assert _SDM is not None
    return _SDM.expand(name) or name


def entity_id(type_name: str, device_id: str) -> str:
    local = device_id.rsplit(":", 1)[-1]
    return f"urn:ngsi-ld:{type_name}:{local}"


class ReadingsBridge:
    def __init__(self, ngsi: NgsiLd, rights: CharterRights) -> None:
        self.ngsi = ngsi
        self.rights = rights
        self.platform = rights.platform

    def start(self) -> None:
        self._register_version: int | None = None
        self._pending: dict[tuple[str, str, str], ReadingRow] = {}
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.platform.bus.subscribe(TOPIC_READINGS, self.on_readings)
        self.publish_devices()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every reading handed over so far is published (tests, the envelope door)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout_s)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closed)
                if self._closed:
                    return
                batch, self._pending = self._pending, {}
                self._busy = True
            try:
                self.publish_devices()
                self.write(list(batch.values()))
            except Exception:  # the readings are committed; the next batch catches up
                log.exception("the NGSI-LD bridge could not write entities")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def publish_devices(self) -> int:
        """The public register's devices as Smart Data Models Device entities.

        The register is public (the Amsterdam sensor register): id, category,
        controlled properties, state, location, owner project and vendor. Done
        again whenever the register's version moved (any process's change).
        """
        version = self.platform.store.read_register_version()
        if version == getattr(self, "_register_version", None):
            return 0
        fragments: list[Fragment] = []
        store = self.platform.store
        projects = {p.id: p for p in store.list_projects()}
        vendors = {v.id: v.name for v in store.list_vendors()}
        for d in store.list_devices():
            project = projects.get(d.project_id)
            declared = {c.name: c for c in project.categories} if project else {}
            measured = [(c, _attribute_names(declared[c])) for c in d.categories if c in declared]
            attrs: dict[str, list[dict[str, Any]]] = {
                # Smart Data Models Device: its enums for the category and what it measures
                attribute_iri("deviceCategory"): [{"type": "Property", "value": ["sensor"]}],
                attribute_iri("controlledProperty"): [
                    {"type": "Property", "value": sdm.controlled(measured) or d.categories}
                ],
                attribute_iri("deviceState"): [{"type": "Property", "value": d.status.value}],
                attribute_iri("owner"): [{"type": "Relationship", "object": d.project_id}],
                attribute_iri("manufacturerName"): [
                    {"type": "Property", "value": vendors.get(d.vendor_id, d.vendor_id)}
                ],
                attribute_iri("description"): [{"type": "Property", "value": d.modality}],
                # Charter's own names of what it sends (the register's categories)
                attribute_iri("dataProvided"): [{"type": "Property", "value": d.categories}],
            }
            if d.location is not None:
                point = {"type": "Point", "coordinates": [d.location.lon, d.location.lat]}
                attrs["https://uri.etsi.org/ngsi-ld/location"] = [
                    {"type": "GeoProperty", "value": point}
                ]
            fragments.append(Fragment(d.id, [type_iri("Device")], None, attrs))
        if fragments:
            _logged(batch_write(self.ngsi.entities, GATE, "", fragments, "upsert-replace"))
        self._register_version = version
        return len(fragments)

    def on_readings(self, _topic: str, rows: Sequence[ReadingRow]) -> None:
        """Hand committed rows over (the gate's thread): kept per device and category, the
        newest wins; a thread of the bridge writes them, so the gate never waits for it."""
        with self._cond:
            for row in rows:
                key = (row[0], row[1], row[2])
                old = self._pending.get(key)
                if old is None or row[3] >= old[3]:
                    self._pending[key] = row
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ngsild-bridge", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def write(self, rows: Sequence[ReadingRow]) -> int:
        latest: dict[tuple[str, str, str], ReadingRow] = {}
        for row in rows:
            key = (row[0], row[1], row[2])
            if key not in latest or row[3] >= latest[key][3]:
                latest[key] = row
        fragments: list[Fragment] = []
        for (device_id, project_id, category), row in latest.items():
            declared = self.rights.register.category(project_id, category)
            if declared is None or declared.category.personal:
                continue
            values: dict[str, Any] = json.loads(row[6])
            observed = iso(row[3])
            attrs: dict[str, list[dict[str, Any]]] = {}
            for name, value in values.items():
                attr = declared.attribute(name)
                shown, fixed = sdm.value(declared.type, attr, value)
                inst: dict[str, Any] = {"type": "Property", "value": shown, "observedAt": observed}
                spec = declared.category.fields.get(name)
                code = fixed or (UNIT_CODES.get(spec.unit or "") if spec is not None else None)
                if code:
                    inst["unitCode"] = code
                attrs[attribute_iri(attr)] = [inst]
            for attr, fixed_value in sdm.required(declared.type, values).items():
                attrs[attribute_iri(attr)] = [{"type": "Property", "value": fixed_value}]
            attrs[attribute_iri("dateObserved")] = [{"type": "Property", "value": observed}]
            attrs[attribute_iri("refDevice")] = [{"type": "Relationship", "object": device_id}]
            device = self.platform.store.get_device(device_id)
            moving = declared.type in sdm.MOVING  # where it was registered is not where it is
            if device is not None and device.location is not None and not moving:
                point = {"type": "Point", "coordinates": [device.location.lon, device.location.lat]}
                attrs["https://uri.etsi.org/ngsi-ld/location"] = [
                    {"type": "GeoProperty", "value": point}
                ]
            fragments.append(
                Fragment(
                    entity_id(declared.type, device_id),
                    [type_iri(declared.type)],
                    None,
                    attrs,
                    project_id=project_id,
                    category=category,
                    expires_at=row[3] + declared.category.retention_days * DAY_MS,
                )
            )
        if fragments:
            _logged(batch_write(self.ngsi.entities, GATE, "", fragments, "upsert-update"))
        return len(fragments)


def _attribute_names(category: DataCategory) -> list[str]:
    """The names a category's fields have on its NGSI-LD type."""
    names = category.ngsi.attributes if category.ngsi is not None else {}
    return [names.get(f, f) for f in category.fields]


def _logged(result: BatchResult) -> None:
    for _entity_id, err in result.errors:  # ids are devices' (public); no values logged
        log.warning("the NGSI-LD bridge could not write an entity: %s", err.detail)
