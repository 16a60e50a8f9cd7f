"""Components of a firmware's software bill of materials, from a CycloneDX JSON document.

Only what the trust policy needs is read: each component's name, version and
package URL, nested components included. A document that is not CycloneDX is
refused rather than guessed at.
"""

from __future__ import annotations

from typing import Any

from charter.domain.model import SbomComponent

MAX_COMPONENTS = 5000
MAX_NESTING = 8


class SbomError(ValueError):
    """The document is not a CycloneDX SBOM Charter can read."""


def parse_cyclonedx(doc: Any) -> list[SbomComponent]:
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise SbomError('not a CycloneDX document (bomFormat must be "CycloneDX")')
    out: list[SbomComponent] = []
    _walk(doc.get("components", []), out, 0)
    return out


def _walk(items: Any, out: list[SbomComponent], depth: int) -> None:
    if not isinstance(items, list):
        raise SbomError("components must be a list")
    if depth > MAX_NESTING:
        raise SbomError(f"components are nested deeper than {MAX_NESTING}")
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise SbomError("every component needs a name")
        version, purl = item.get("version", ""), item.get("purl")
        if not isinstance(version, str) or not (purl is None or isinstance(purl, str)):
            raise SbomError("component version and purl must be strings")
        try:
            out.append(SbomComponent(name=item["name"], version=version, purl=purl))
        except ValueError as exc:
            raise SbomError(f"component is not valid: {exc.__class__.__name__}") from None
        if len(out) > MAX_COMPONENTS:
            raise SbomError(f"more than {MAX_COMPONENTS} components")
        _walk(item.get("components", []), out, depth + 1)
