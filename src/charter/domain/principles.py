"""The city's guiding principles and the uses no project may make of technology.

Principles are configured by the city (setting `principles`: `id: title`
entries); every project states publicly how it meets each one before it can go
to consultation. Prohibited uses are configured too (setting
`prohibited_uses`); a known id brings its rule, the capabilities it forbids
(structured, declared on every disclosure) and the words that reveal it in free
text (a second net); a capability's name forbids that capability; any other
entry is itself the word to look for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from charter.domain.disclosure import Capability

# Modelled on Greater Geelong's smart city guiding principles.
DEFAULT_PRINCIPLES = [
    "people-first: Put people first",
    "open-transparent: Be open and transparent",
    "privacy-security: Protect privacy and keep data secure",
    "evidence: Decide on evidence and measure the benefits",
    "inclusive: Include everyone",
    "collaborate: Work with the community and partners",
    "sustainable: Be sustainable and good value",
]


@dataclass(frozen=True, slots=True)
class Principle:
    id: str
    title: str


def parse_principles(entries: list[str]) -> list[Principle]:
    out: list[Principle] = []
    for entry in entries:
        pid, _, title = entry.partition(":")
        out.append(Principle(pid.strip(), title.strip() or pid.strip()))
    return out


@dataclass(frozen=True, slots=True)
class ProhibitedUse:
    id: str
    rule: str
    words: tuple[str, ...]
    capabilities: frozenset[Capability] = frozenset()


CATALOGUE: dict[str, ProhibitedUse] = {
    p.id: p
    for p in (
        ProhibitedUse(
            "remote-biometric-identification",
            "No remote biometric identification of people in public space "
            "(such as facial recognition).",
            (
                "facial recognition",
                "face recognition",
                "facial-recognition",
                "face-recognition",
                "remote biometric identification",
                "biometric identification",
                "gait recognition",
            ),
            frozenset(
                {
                    Capability.FACIAL_RECOGNITION,
                    Capability.BIOMETRIC_IDENTIFICATION,
                    Capability.GAIT_ANALYSIS,
                }
            ),
        ),
        ProhibitedUse(
            "emotion-recognition",
            "No recognition of emotions or body language.",
            (
                "emotion recognition",
                "emotion-recognition",
                "emotion detection",
                "affect recognition",
                "body language recognition",
                "body-language recognition",
                "body language analysis",
            ),
            frozenset({Capability.EMOTION_RECOGNITION}),
        ),
        ProhibitedUse(
            "predictive-policing",
            "No predicting of crimes by individuals.",
            (
                "predictive policing",
                "predictive-policing",
                "crime prediction",
                "predicting crimes",
                "predict crimes",
                "criminal risk scoring",
            ),
            frozenset({Capability.INDIVIDUAL_RISK_SCORING}),
        ),
    )
}

DEFAULT_PROHIBITED = list(CATALOGUE)


def parse_prohibited(entries: list[str]) -> list[ProhibitedUse]:
    out: list[ProhibitedUse] = []
    for entry in entries:
        key = entry.strip()
        known = CATALOGUE.get(key.lower())
        if known is None and key.lower() in CAPABILITIES:
            cap = CAPABILITIES[key.lower()]
            known = ProhibitedUse(
                cap.value, f"No {cap.value.replace('-', ' ')}.", (cap.value,), frozenset({cap})
            )
        out.append(known or ProhibitedUse(key, f"No use of {key}.", (key.lower(),)))
    return out


CAPABILITIES = {c.value: c for c in Capability}


def _normal(text: str) -> str:
    return re.sub(r"[\s_]+", " ", text.lower())


def forbidden_capabilities(
    rules: list[ProhibitedUse], capabilities: list[Capability]
) -> list[tuple[ProhibitedUse, Capability]]:
    """Each declared capability a rule forbids, with the rule: the structured check."""
    return [(r, c) for r in rules for c in capabilities if c in r.capabilities]


def broken_rules(rules: list[ProhibitedUse], texts: list[str]) -> list[ProhibitedUse]:
    """The prohibited uses named by any of the texts (tags or free text), in rule order.

    The second net: a paraphrase passes it, a declared capability does not."""
    haystack = [_normal(t) for t in texts]
    hits: list[ProhibitedUse] = []
    for rule in rules:
        words = {_normal(w) for w in (rule.id, *rule.words)}
        if any(w in h for w in words for h in haystack):
            hits.append(rule)
    return hits
