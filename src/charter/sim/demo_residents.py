"""The demo's residents: different choices, their own tokens, and what the gate did.

Four residents link a crossing fob and choose differently: one opts in, one
does not, one opts in and withdraws, one opts in and then erases everything.
Each fob holds its own key and proves it is held when linked: the resident's
app asks the platform for a challenge and the fob signs it (`link_fob`).
Each fob asks a crossing for more time; the demo prints what the gate did
with each request and what is held afterwards. A crossing app gets a grant
for the purpose the first resident consented to and reads; that read is in
her access history.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from charter.auth import Role
from charter.bootstrap import Platform
from charter.device import FobKey, SimReading
from charter.domain.clock import to_ms
from charter.domain.model import Actor
from charter.rights.residents import LinkResult, Proof, Residents
from charter.sim import city as sample

CROSSING = "pedestrian.crossing_request"
PURPOSE = "crossing-assistance"
DESK = Actor(name="demo-service-desk", role="operator")
CHOICES = {
    "aiko": "opts in to crossing assistance",
    "ben": "links his fob, opts in to nothing",
    "chiyo": "opts in, then withdraws",
    "daan": "opts in, then erases everything",
}


def link_fob(residents: Residents, resident_id: str, fob: FobKey, me: Actor) -> LinkResult:
    """What a resident's app does: ask for a challenge, have the fob sign it, link."""
    challenge, _expires = residents.challenge(resident_id, me)
    proof = Proof(fob.public_key_b64, challenge, fob.answer(challenge))
    return residents.link(resident_id, fob.identifier, "fob", me, proof)


def show(platform: Platform, city: sample.City, say: Callable[[str], None]) -> dict[str, str]:
    """Run the residents' part of the demo; returns their tokens by name."""
    rights, now = platform.rights, platform.clock.now()
    traffic = city.by_kind("traffic")[0]
    tokens: dict[str, str] = {}
    ids: dict[str, str] = {}
    fobs: dict[str, str] = {}
    for name in CHOICES:
        rid = rights.residents.create(DESK).id
        me = Actor(name=name, role="resident", subject=rid)
        ids[name] = rid
        tokens[f"resident {name}"] = platform.security.issuer.issue(
            name, Role.RESIDENT, subject=rid
        )
        fob = FobKey()  # its key and its raw identifier exist only on the device
        fobs[name] = fob.identifier
        link_fob(rights.residents, rid, fob, me)
        if name != "ben":
            done = rights.consents.grant(
                rid, category=CROSSING, purpose=PURPOSE, projects=[sample.TRAFFIC], actor=me
            )
            if name == "chiyo":
                rights.consents.withdraw(rid, done.consent.id, me)
    # Each fob asks the crossing for eight more seconds.
    traffic.seq = max(traffic.seq, to_ms(now) - 1000) + 1
    readings = [
        SimReading(CROSSING, now, {"fob": fobs[n], "extra_seconds": 8}, {"extra_seconds": "s"})
        for n in CHOICES
    ]
    [out] = platform.gate.ingest([traffic.signer.envelope(traffic.seq, now, readings)])
    refused = {i: reason for i, reason, _ in out.reading_reasons}
    daan = ids["daan"]
    erased = rights.subject.erase(daan, Actor(name="daan", role="resident", subject=daan))
    # A crossing app asks for the data, for the purpose Aiko consented to, and reads.
    app_id = "urn:ngsi-ld:Consumer:crossing-app"
    app = Actor(name="crossing-app", role="consumer", subject=app_id)
    tokens["consumer crossing-app"] = platform.security.issuer.issue(
        "crossing-app", Role.CONSUMER, subject=app_id
    )
    req = rights.access.request(
        app, dataset=sample.TRAFFIC, categories=[CROSSING], purpose=PURPOSE, why="demo"
    )
    grant = rights.access.decide(
        req.id, DESK, grant=True, why="demo", expires_at=now + timedelta(days=30)
    ).grant
    assert grant is not None
    seen = rights.access.read(app, grant, category=CROSSING, purpose=PURPOSE)
    say("Residents and their choices (one crossing request from each fob reached the gate):")
    for i, (name, choice) in enumerate(CHOICES.items()):
        verdict = f"refused ({refused[i]}), dropped" if i in refused else "admitted, encrypted"
        token = tokens[f"resident {name}"]
        if name == "daan":
            held = f"erased: {erased['removed']['readings']} reading deleted, key destroyed"
            token += "  (revoked by the erasure)"
        else:
            me = Actor(name=name, role="resident", subject=ids[name])
            view = rights.subject.view(ids[name], me)
            held = (
                f"{len(view['readings'])} reading(s) held, read {len(view['access_log'])} time(s)"
            )
        say(f"  {name}: {choice}")
        say(f"      id {ids[name]}")
        say(f"      token {token}")
        say(f"      gate: {verdict}; now: {held}")
    say(f"  the crossing app read {len(seen['readings'])} reading(s) under its grant")
    say(f"consumer crossing-app token: {tokens['consumer crossing-app']}")
    return tokens
