"""The city's guiding principles and the uses no project may make of technology.

Principles are configured by the city (setting `principles`: `id: title`
entries); every project states publicly how it meets each one before it can go
to consultation. Prohibited uses are configured too (setting
`prohibited_uses`); a known id brings its rule and the words that reveal it, an
unknown entry is itself the word to look for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
        ),
    )
}

DEFAULT_PROHIBITED = list(CATALOGUE)


def parse_prohibited(entries: list[str]) -> list[ProhibitedUse]:
    out: list[ProhibitedUse] = []
    for entry in entries:
        key = entry.strip()
        known = CATALOGUE.get(key.lower())
        out.append(known or ProhibitedUse(key, f"No use of {key}.", (key.lower(),)))
    return out


def _normal(text: str) -> str:
    return re.sub(r"[\s_]+", " ", text.lower())


def broken_rules(rules: list[ProhibitedUse], texts: list[str]) -> list[ProhibitedUse]:
    """The prohibited uses named by any of the texts (tags or free text), in rule order."""
    haystack = [_normal(t) for t in texts]
    hits: list[ProhibitedUse] = []
    for rule in rules:
        words = {_normal(w) for w in (rule.id, *rule.words)}
        if any(w in h for w in words for h in haystack):
            hits.append(rule)
    return hits
