"""The demo's public register: a consultation with comments, themes and responses,
an amendment to a live project, and a retired project kept on the record."""

from __future__ import annotations

from charter.bootstrap import Platform
from charter.domain.consultation import Stance
from charter.sim import city as sample

STAFF = sample.SEEDER

COMMENTS = [
    (Stance.SUPPORT, "Our street flooded twice last winter. An earlier warning would help."),
    (Stance.SUPPORT, "Please send warnings by text message too, not only the app."),
    (Stance.OPPOSE, "Who pays for the upkeep of the gauges? I worry about the cost."),
    (Stance.COMMENT, "Will the water authority get the raw data? Say so on the sign."),
    (Stance.OPPOSE, "Another sensor on my lamppost. Is there a camera in it?"),
    (Stance.SUPPORT, ""),
]

THEMES = [
    (
        "How residents are warned",
        "People asked for warnings by text message as well as in the app.",
        [0, 1],
        "You said warnings must reach people without the app. We added text messages and "
        "sirens in the two lowest streets to the plan.",
    ),
    (
        "Cost and upkeep",
        "People asked who maintains the gauges and what it costs.",
        [2],
        "The gauges cost 38,000 a year to maintain, paid from the water budget; the figure "
        "is now in the disclosure.",
    ),
    (
        "What the gauges capture",
        "People asked whether gauges carry cameras and who receives the data.",
        [3, 4],
        "The gauges measure water level only: no camera, no microphone. The regional water "
        "authority receives the levels, as the disclosure says.",
    ),
]


def show_register(platform: Platform) -> dict[str, int]:
    """Comments, themes and responses on the flood project's open consultation, and an
    amendment (longer retention) to the live air-quality project. Returns counts."""
    feedback = platform.registry.feedback
    ids = [
        feedback.comment(sample.FLOOD, text, stance, f"192.0.2.{i}").id
        for i, (stance, text) in enumerate(COMMENTS, start=10)
    ]
    for title, summary, picks, response in THEMES:
        theme = feedback.add_theme(sample.FLOOD, title, summary, [ids[i] for i in picks], STAFF)
        feedback.respond(theme.id, response, STAFF)
    air = platform.store.get_project(sample.AIR)
    assert air is not None
    longer = [c.model_copy(update={"retention_days": c.retention_days * 2}) for c in air.categories]
    platform.registry.amend(
        air.model_copy(update={"categories": longer}),
        STAFF,
        "keep four years of air quality to see the effect of the low-emission zone",
    )
    return {"comments": len(ids), "themes": len(THEMES), "amendments": 1}


def publish_algorithms(platform: Platform) -> list[str]:
    """The register entries of the services `charter demo` runs (each on a platform of its
    own, see demo_services), on the demo city's public register beside their projects."""
    from charter.services.crossing import entry as crossing_entry
    from charter.sim.hazard.scenario import hazard_entry
    from charter.sim.snowmelt.replay import entry as snowmelt_entry
    from charter.sim.sumo.city import adaptive_entry
    from charter.sim.sumo.evp_model import preemption_entry

    entries = [adaptive_entry(), preemption_entry(), crossing_entry(sample.TRAFFIC),
               snowmelt_entry(), hazard_entry()]  # fmt: skip
    for e in entries:
        platform.algorithms.register(e, STAFF, "the demo's city services")
    return [e.service for e in entries]
