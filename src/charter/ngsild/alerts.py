"""The hazard service's public alerts as Smart Data Models Alert entities (dataModel.Alert).

`AlertPublisher.publish` is the `AlertChannel.published` hook (services/hazard_delivery.py): each
alert the channel sent (raised or cleared, after its ledger entry) becomes the current
state of its zone's entity `urn:ngsi-ld:Alert:<project>:<zone>` (types Alert and, for a
weather alert, WeatherAlert as the service names it): `category`, `subCategory`,
`severity`, `alertSource` (the service), `dateIssued`, `validFrom`, `validTo` (once
cleared), `description`, `areaServed` (the zone's name), `location` (the zone's polygon
from the published warning plan), `owner` (the project) and `data` (what triggered it:
the Smart Data Models entity and attribute, the value and the plan's thresholds). Every
alert is an instance in the entity's history (the temporal API). Alerts are public (they
go to every subscriber of the zone, and name a coarse zone, never a person or a location
of one); only the platform writes them (ngsild.rights).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from charter.ngsild.batch import Fragment, batch_write
from charter.ngsild.bridge import attribute_iri, type_iri
from charter.ngsild.rights import GATE

if TYPE_CHECKING:
    from charter.ngsild.service import NgsiLd
    from charter.store.base import Store

log = logging.getLogger(__name__)
CLEAR = "alert.clear"
LOCATION = "https://uri.etsi.org/ngsi-ld/location"
OWN_TYPES = frozenset({"WeatherAlert"})


def alert_id(project_id: str, zone: str) -> str:
    return f"urn:ngsi-ld:Alert:{project_id.rsplit(':', 1)[-1]}:{zone}"


class AlertPublisher:
    def __init__(self, ngsi: NgsiLd, store: Store) -> None:
        self.ngsi, self.store = ngsi, store

    def publish(self, action: str, alert: dict[str, Any]) -> None:
        """One sent alert (the command's params) as its zone's Alert entity."""
        from charter.services.hazard import HazardPlan

        project, zone = str(alert.get("project", "")), str(alert.get("zone", ""))
        issued = str(alert.get("dateIssued", ""))

        def prop(v: Any) -> list[dict[str, Any]]:
            return [{"type": "Property", "value": v, "observedAt": issued}]

        attrs: dict[str, list[dict[str, Any]]] = {
            attribute_iri(k): prop(alert[k])
            for k in ("category", "subCategory", "severity", "alertSource", "dateIssued",
                      "validFrom", "description")
            if alert.get(k) is not None
        }  # fmt: skip
        attrs[attribute_iri("data")] = prop(alert.get("data") or {})
        attrs[attribute_iri("owner")] = prop([project])
        if action == CLEAR:
            attrs[attribute_iri("validTo")] = prop(issued)
        doc = self.store.get_hazard_plan(project)
        z = HazardPlan.model_validate_json(doc).zone(zone) if doc else None
        if z is not None:
            attrs[attribute_iri("areaServed")] = prop(z.name)
            ring = [list(p) for p in z.polygon]
            attrs[LOCATION] = [{"type": "GeoProperty",
                                "value": {"type": "Polygon", "coordinates": [ring]}}]  # fmt: skip
        # Alert, and the service's own Smart Data Models type (WeatherAlert for weather)
        own = alert.get("type")
        types = [type_iri("Alert")] + ([type_iri(own)] if own in OWN_TYPES else [])
        fragment = Fragment(alert_id(project, zone), types, None, attrs)
        # the zone's alert as it is now (replace: no validTo left once raised again)
        result = batch_write(self.ngsi.entities, GATE, "", [fragment], "upsert-replace")
        for _id, err in result.errors:  # zone ids are public; no values logged
            log.warning("an alert could not be published over NGSI-LD: %s", err.detail)
