"""The demo's register shows a consultation with comments, themes and responses,
a live project with an amendment in consultation, and a retired project."""

from __future__ import annotations

from fastapi.testclient import TestClient

from charter.api.app import create_app
from charter.bootstrap import Platform
from charter.sim import city as sample
from charter.sim.demo_register import show_register


def test_the_demo_register_has_every_stage_of_life(platform: Platform) -> None:
    sample.seed(platform.registry, n_devices=40)
    assert show_register(platform) == {"comments": 6, "themes": 3, "amendments": 1}
    with TestClient(create_app(platform)) as client:
        projects = {p["id"]: p for p in client.get("/register/projects").json()}
        assert projects[sample.PARKING]["status"] == "retired"
        air = projects[sample.AIR]
        assert air["status"] == "live"
        assert air["consultation"]["kind"] == "amendment"
        flood = projects[sample.FLOOD]
        assert flood["status"] == "consultation"
        c = flood["consultation"]
        assert c["stances"] == {"support": 3, "oppose": 2, "comment": 1}
        assert len(c["themes"]) == 3 and all(t["response"] for t in c["themes"])
        comments = client.get(f"/register/projects/{sample.FLOOD}/comments").json()
        assert len(comments) == 6 and all(m["theme"] for m in comments if m["text"])
        report = client.get("/report/transparency").json()
        outcomes = {(x["project"], x["kind"], x["status"]) for x in report["consultations"]}
        assert (sample.FLOOD, "initial", "open") in outcomes
        assert (sample.AIR, "amendment", "open") in outcomes
        assert (sample.PARKING, "initial", "approved") in outcomes
