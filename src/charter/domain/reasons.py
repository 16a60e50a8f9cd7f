"""Stable reason codes: every rejection and every API error names one.

The codes are part of the public contract (devices, dashboards and auditors
match on them), so a code is never renamed; new ones are added at the end.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # decode
    MALFORMED_JSON = "MALFORMED_JSON"
    INVALID_ENVELOPE = "INVALID_ENVELOPE"
    ENVELOPE_TOO_LARGE = "ENVELOPE_TOO_LARGE"
    TOO_DEEP = "TOO_DEEP"
    EMPTY_ENVELOPE = "EMPTY_ENVELOPE"
    TOO_MANY_READINGS = "TOO_MANY_READINGS"
    # authenticate
    NOT_REGISTERED = "NOT_REGISTERED"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    REPLAYED_SEQUENCE = "REPLAYED_SEQUENCE"
    STALE_TIMESTAMP = "STALE_TIMESTAMP"
    FUTURE_TIMESTAMP = "FUTURE_TIMESTAMP"
    # authorise
    DEVICE_SUSPENDED = "DEVICE_SUSPENDED"
    DEVICE_REVOKED = "DEVICE_REVOKED"
    VENDOR_UNTRUSTED = "VENDOR_UNTRUSTED"
    PROJECT_NOT_LIVE = "PROJECT_NOT_LIVE"
    REGISTRATION_ENDED = "REGISTRATION_ENDED"
    # purpose
    UNDECLARED_CATEGORY = "UNDECLARED_CATEGORY"
    CATEGORY_NOT_ALLOWED = "CATEGORY_NOT_ALLOWED"
    INVALID_READING = "INVALID_READING"
    WRONG_TYPE = "WRONG_TYPE"
    WRONG_UNIT = "WRONG_UNIT"
    NON_FINITE = "NON_FINITE"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    # consent
    NO_CONSENT = "NO_CONSENT"
    # API and registry
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    VALIDATION_FAILED = "VALIDATION_FAILED"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    NOT_REPLAYABLE = "NOT_REPLAYABLE"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    # the public register and consultation
    DISCLOSURE_INCOMPLETE = "DISCLOSURE_INCOMPLETE"
    PROHIBITED_USE = "PROHIBITED_USE"
    CONSULTATION_NOT_OVER = "CONSULTATION_NOT_OVER"
    THEMES_UNANSWERED = "THEMES_UNANSWERED"
    CONSULTATION_CLOSED = "CONSULTATION_CLOSED"
    BACKDATED = "BACKDATED"
    RATE_LIMITED = "RATE_LIMITED"
    # device identity, people's access and the two-person rule
    KEY_REVOKED = "KEY_REVOKED"
    KEY_EXPIRED = "KEY_EXPIRED"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"  # noqa: S105 (a reason code, not a secret)
    WRONG_AUDIENCE = "WRONG_AUDIENCE"
    PURPOSE_NOT_GRANTED = "PURPOSE_NOT_GRANTED"
    NEEDS_SECOND_PERSON = "NEEDS_SECOND_PERSON"
    SAME_PERSON = "SAME_PERSON"
    BULK_READ_REFUSED = "BULK_READ_REFUSED"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"
    # residents' rights
    CONSENT_WITHDRAWN = "CONSENT_WITHDRAWN"
    GRANT_INVALID = "GRANT_INVALID"
    ALREADY_ERASED = "ALREADY_ERASED"
    BAD_CONSTRAINT = "BAD_CONSTRAINT"
    NO_PROOF_OF_POSSESSION = "NO_PROOF_OF_POSSESSION"
    # the public record
    COSIGNATURE_INVALID = "COSIGNATURE_INVALID"
    CHECKPOINT_UNKNOWN = "CHECKPOINT_UNKNOWN"
    # the city services
    NO_ALGORITHM_ENTRY = "NO_ALGORITHM_ENTRY"
    SERVICE_DATA_UNDECLARED = "SERVICE_DATA_UNDECLARED"
    ZONE_UNKNOWN = "ZONE_UNKNOWN"
    LOCATION_NOT_ZONE = "LOCATION_NOT_ZONE"
    SIMULATOR_MISSING = "SIMULATOR_MISSING"
    WEBHOOK_HOST_NOT_ALLOWED = "WEBHOOK_HOST_NOT_ALLOWED"
    # emergency-vehicle preemption (signal requests)
    JUNCTION_NOT_ON_ROUTE = "JUNCTION_NOT_ON_ROUTE"
    ROUTE_UNKNOWN_EDGE = "ROUTE_UNKNOWN_EDGE"
    POSITION_JUMP = "POSITION_JUMP"
    HEADING_REVERSED = "HEADING_REVERSED"
    REQUEST_FLOOD = "REQUEST_FLOOD"
    PREEMPTION_TIMEOUT = "PREEMPTION_TIMEOUT"
    NO_CROSSWALK = "NO_CROSSWALK"

    @property
    def sentence(self) -> str:
        return SENTENCES[self]


SENTENCES: dict[Reason, str] = {
    Reason.MALFORMED_JSON: "The body is not valid JSON.",
    Reason.INVALID_ENVELOPE: "The envelope does not have the required shape.",
    Reason.ENVELOPE_TOO_LARGE: "The envelope is larger than the gate accepts.",
    Reason.TOO_DEEP: "The payload is nested deeper than the gate accepts.",
    Reason.EMPTY_ENVELOPE: "The envelope carries no readings.",
    Reason.TOO_MANY_READINGS: "The envelope carries more readings than the gate accepts.",
    Reason.NOT_REGISTERED: "The device is not on the register.",
    Reason.BAD_SIGNATURE: "The signature does not match the device's registered key.",
    Reason.REPLAYED_SEQUENCE: "The envelope's sequence number was already used by this device.",
    Reason.STALE_TIMESTAMP: "The timestamp is older than the gate's window allows.",
    Reason.FUTURE_TIMESTAMP: "The timestamp lies further in the future than the window allows.",
    Reason.DEVICE_SUSPENDED: "The device is suspended.",
    Reason.DEVICE_REVOKED: "The device is revoked.",
    Reason.VENDOR_UNTRUSTED: "The device's vendor does not pass the city's trust policy.",
    Reason.PROJECT_NOT_LIVE: "The device's project is not live.",
    Reason.REGISTRATION_ENDED: "The device's 'active until' date on the register has passed.",
    Reason.UNDECLARED_CATEGORY: "The project did not declare this data category.",
    Reason.CATEGORY_NOT_ALLOWED: "The device is not registered to send this data category.",
    Reason.INVALID_READING: "The reading does not have the required shape.",
    Reason.WRONG_TYPE: "A value has a type other than the category declares.",
    Reason.WRONG_UNIT: "A value has a unit other than the category declares.",
    Reason.NON_FINITE: "A value is NaN or infinite.",
    Reason.OUT_OF_RANGE: "A value lies outside the range the category declares.",
    Reason.NO_CONSENT: "The reading is personal data and the person has not consented.",
    Reason.UNAUTHENTICATED: "The request needs a valid bearer token.",
    Reason.FORBIDDEN: "The caller's role may not do this.",
    Reason.NOT_FOUND: "No such resource.",
    Reason.CONFLICT: "The resource already exists or changed meanwhile.",
    Reason.VALIDATION_FAILED: "The request body is not valid.",
    Reason.INVALID_TRANSITION: "The status change is not allowed from the current status.",
    Reason.NOT_REPLAYABLE: "The quarantined item cannot be replayed.",
    Reason.METHOD_NOT_ALLOWED: "The resource does not support this method.",
    Reason.DISCLOSURE_INCOMPLETE: "The disclosure has missing or contradictory fields.",
    Reason.PROHIBITED_USE: "The city prohibits this use of technology.",
    Reason.CONSULTATION_NOT_OVER: "The public consultation period has not ended yet.",
    Reason.THEMES_UNANSWERED: "A feedback theme has no published response yet.",
    Reason.CONSULTATION_CLOSED: "The project is not open for comments.",
    Reason.BACKDATED: "The change is dated before the record's last change or before now.",
    Reason.RATE_LIMITED: "Too many requests from this source, device or token; retry later.",
    Reason.KEY_REVOKED: "The envelope is signed with a device key that was revoked.",
    Reason.KEY_EXPIRED: "The envelope is signed with a device key outside its validity window.",
    Reason.TOKEN_EXPIRED: "The bearer token has expired.",
    Reason.WRONG_AUDIENCE: "The bearer token was issued for another tenant or service.",
    Reason.PURPOSE_NOT_GRANTED: "The read lies outside the purposes its token or grant covers.",
    Reason.NEEDS_SECOND_PERSON: "This action needs the approval of a second authorised person.",
    Reason.SAME_PERSON: "The person who proposed an action cannot also approve it.",
    Reason.BULK_READ_REFUSED: "The read exceeds the bulk personal-data threshold without approval.",
    Reason.REQUEST_TOO_LARGE: "The request body is larger than the API accepts.",
    Reason.REQUEST_TIMEOUT: "The request body did not arrive in time.",
    Reason.STORAGE_UNAVAILABLE: "The store cannot take writes now (full or away); retry later.",
    Reason.CONSENT_WITHDRAWN: "The consent was withdrawn; it cannot be used or withdrawn again.",
    Reason.GRANT_INVALID: "The access grant is forged, unknown, revoked or expired.",
    Reason.ALREADY_ERASED: "The resident's data has already been erased.",
    Reason.BAD_CONSTRAINT: "A grant constraint has a value of the wrong kind or out of range.",
    Reason.NO_PROOF_OF_POSSESSION: "Linking an identifier needs proof that the resident holds it.",
    Reason.COSIGNATURE_INVALID: "The note carries no valid cosignature from a configured witness.",
    Reason.CHECKPOINT_UNKNOWN: "The ledger signed no checkpoint with this size and root hash.",
    Reason.NO_ALGORITHM_ENTRY: "The service has no entry on the public algorithm register.",
    Reason.SERVICE_DATA_UNDECLARED: (
        "The service or its register entry uses data its project or entry does not declare."
    ),
    Reason.ZONE_UNKNOWN: "No alert zone (or subscription) by that id in the published plan.",
    Reason.LOCATION_NOT_ZONE: "Alerts are subscribed by a published zone, never by a location.",
    Reason.SIMULATOR_MISSING: (
        "The traffic simulator (SUMO, the charter[sim] extra) is not installed."
    ),
    Reason.WEBHOOK_HOST_NOT_ALLOWED: (
        'An alert channel is "mqtt" or a webhook on a host the operator allowed.'
    ),
    Reason.JUNCTION_NOT_ON_ROUTE: "The signal request names a junction its route does not cross.",
    Reason.ROUTE_UNKNOWN_EDGE: (
        "The route names a road the network lacks, or roads that do not join."
    ),
    Reason.POSITION_JUMP: "The position moved further than any vehicle could since its last one.",
    Reason.HEADING_REVERSED: "The heading runs against the direction of the road it is on.",
    Reason.REQUEST_FLOOD: "The vehicle sent more signal requests than the service takes.",
    Reason.PREEMPTION_TIMEOUT: (
        "The request ended: the vehicle fell silent or held a signal too long."
    ),
    Reason.NO_CROSSWALK: (
        "The network has no such signalised crosswalk, or none that a 0.9 m/s pedestrian needs "
        "more time at and the cap can cover."
    ),
}

# The gate's stages, in order. A decision names the stage that made it.
STAGES = ("decode", "authenticate", "authorise", "purpose", "consent", "minimise", "store")
