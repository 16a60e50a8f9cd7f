"""The register's rules about disclosures: what is missing, what contradicts, what changed.

Each rule returns `(field, message)` pairs so a refusal names every field that
needs work, not just the first. Pure functions over the domain model.
"""

from __future__ import annotations

from datetime import date

from shapely.geometry import Point, Polygon

from charter.domain.disclosure import (
    IDENTIFYING,
    PERSONAL_ONLY,
    TRANSFORMING,
    Access,
    Area,
    Capability,
    Processing,
    ProjectDisclosure,
)
from charter.domain.model import Device, Project
from charter.domain.principles import (
    Principle,
    ProhibitedUse,
    broken_rules,
    forbidden_capabilities,
)

FieldProblem = tuple[str, str]


def polygon(area: Area) -> Polygon:
    shell, *holes = area.coordinates
    return Polygon(shell, holes)


def project_problems(
    project: Project, principles: list[Principle], *, complete: bool
) -> list[FieldProblem]:
    """Contradictions always; missing fields too when `complete` (entering consultation)."""
    out: list[FieldProblem] = []
    d = project.disclosure
    if d is None:
        if complete:
            out.append(("disclosure", "a project needs a disclosure before consultation"))
        return out
    personal = any(c.personal for c in project.categories)
    out += _contradictions(project, d)
    if not complete:
        return out
    if not d.contact:
        out.append(("disclosure.contact", "name how people reach the accountable organisation"))
    if not d.indicators:
        out.append(("disclosure.indicators", "state at least one measurable benefit"))
    if not d.technologies:
        out.append(("disclosure.technologies", "name the technology used"))
    if not d.capabilities:
        out.append(("disclosure.capabilities", "say what the technology does: its capabilities"))
    if d.area is None:
        out.append(("disclosure.area", "give the area the project covers"))
    if personal and not d.privacy_statement:
        out.append(("disclosure.privacy_statement", "personal data needs a privacy statement"))
    if personal and not d.impact_assessment:
        out.append(
            ("disclosure.impact_assessment", "personal data needs a privacy impact assessment")
        )
    for p in principles:
        if not d.principles.get(p.id, "").strip():
            out.append((f"disclosure.principles.{p.id}", f"state how the project meets: {p.title}"))
    for i, c in enumerate(project.categories):
        where = f"categories.{i}.disclosure"
        cd = c.disclosure
        if cd is None:
            out.append((where, f"disclose what {c.name} collects, how, who sees it and where"))
            continue
        if not cd.collected:
            out.append((f"{where}.collected", "say what is collected"))
        if not cd.processing:
            out.append((f"{where}.processing", "say how it is processed"))
        if not cd.access:
            out.append((f"{where}.access", "say who can access it"))
        if not cd.storage:
            out.append((f"{where}.storage", "say where it is stored"))
    return out


def _contradictions(project: Project, d: ProjectDisclosure) -> list[FieldProblem]:
    out: list[FieldProblem] = []
    for i, ind in enumerate(d.indicators):
        if ind.baseline == ind.target:
            out.append((f"disclosure.indicators.{i}.target", "the target equals the baseline"))
    if d.area is not None and not polygon(d.area).is_valid:
        out.append(("disclosure.area", "the area's boundary crosses itself"))
    identifying = sorted(set(d.capabilities) & IDENTIFYING)
    if identifying and not any(c.personal for c in project.categories):
        out.append(
            (
                "disclosure.capabilities",
                f"{', '.join(identifying)} identifies people: declare the personal data it yields",
            )
        )
    for i, c in enumerate(project.categories):
        if c.identifier is not None and not c.personal:
            out.append(
                (f"categories.{i}.personal", "a category that identifies people is personal")
            )
        cd = c.disclosure
        if cd is None:
            continue
        where = f"categories.{i}.disclosure"
        steps = set(cd.processing)
        if Processing.RAW in steps and steps & TRANSFORMING:
            out.append((f"{where}.processing", "raw contradicts a transforming treatment"))
        if not c.personal and steps & PERSONAL_ONLY:
            out.append(
                (f"{where}.processing", f"{c.name} is declared not personal but is de-identified")
            )
        if Access.THIRD_PARTIES in cd.access and not cd.third_parties:
            out.append((f"{where}.third_parties", "name the third parties that have access"))
        if cd.third_parties and Access.THIRD_PARTIES not in cd.access:
            out.append((f"{where}.access", "third parties are named but not given access"))
    return out


def device_problems(device: Device, project: Project, today: date) -> list[FieldProblem]:
    """Amsterdam register fields of a device: location or region, and a sane end date."""
    out: list[FieldProblem] = []
    d = device.disclosure
    if d.mobile:
        if d.region is None:
            out.append(("disclosure.region", "a mobile sensor needs the region it moves in"))
        elif not polygon(d.region).is_valid:
            out.append(("disclosure.region", "the region's boundary crosses itself"))
        if device.location is not None:
            out.append(("location", "a mobile sensor has a region, not a fixed location"))
    else:
        if device.location is None:
            out.append(("location", "a fixed sensor needs its location"))
        if d.region is not None:
            out.append(("disclosure.region", "a fixed sensor has a location, not a region"))
    if d.active_until is not None and d.active_until < today:
        out.append(("disclosure.active_until", "the end date lies in the past"))
    out += _outside(device, project)
    declared = project.disclosure.capabilities if project.disclosure else []
    undeclared = [c.value for c in d.capabilities if c not in declared]
    if undeclared:
        out.append(
            ("disclosure.capabilities", f"the project does not declare {', '.join(undeclared)}")
        )
    return out


def _outside(device: Device, project: Project) -> list[FieldProblem]:
    """A device placed beyond the area the public was consulted on would widen the project."""
    area = project.disclosure.area if project.disclosure else None
    if area is None or not polygon(area).is_valid:
        return []
    where, loc, region = polygon(area), device.location, device.disclosure.region
    if loc is not None and not where.covers(Point(loc.lon, loc.lat)):
        return [("location", "outside the area the project was consulted on")]
    if region is not None and polygon(region).is_valid and not where.covers(polygon(region)):
        return [("disclosure.region", "beyond the area the project was consulted on")]
    return []


def project_capabilities(project: Project) -> list[Capability]:
    return list(project.disclosure.capabilities) if project.disclosure else []


def device_capabilities(device: Device, project: Project) -> list[Capability]:
    """What a device does: what it declares, else everything its project declares."""
    return list(device.disclosure.capabilities) or project_capabilities(project)


def project_texts(project: Project) -> list[str]:
    texts = [project.name, project.purpose]
    if project.disclosure is not None:
        texts += project.disclosure.technologies + project.disclosure.purposes
    return texts


def device_texts(device: Device) -> list[str]:
    return [device.modality, device.disclosure.observation_goal or ""]


def prohibited(
    rules: list[ProhibitedUse], texts: list[str], capabilities: list[Capability]
) -> list[FieldProblem]:
    """Declared capabilities a rule forbids; then, as a second net, the rules named in words."""
    out: list[FieldProblem] = []
    hit: set[str] = set()
    for rule, cap in forbidden_capabilities(rules, capabilities):
        out.append(("disclosure.capabilities", f"{rule.id}: {rule.rule} ({cap.value} declared)"))
        hit.add(rule.id)
    out += [
        ("prohibited_use", f"{r.id}: {r.rule}")
        for r in broken_rules(rules, texts)
        if r.id not in hit
    ]
    return out


def device_record(device: Device, project: Project) -> dict[str, object]:
    """The Amsterdam sensor register's view of a device, derived from it and its project."""
    categories = [c for c in project.categories if c.name in device.categories]
    d = device.disclosure
    return {
        "id": device.id,
        "owner": d.owner or project.accountable_organisation,
        "project": project.id,
        "vendor": device.vendor_id,
        "technology": device.modality,
        "capabilities": [c.value for c in device_capabilities(device, project)],
        "mobile": d.mobile,
        "measures": [
            f"{c.name} ({', '.join(sorted(c.fields))})" for c in sorted(categories, key=_name)
        ],
        "personal_data": any(c.personal for c in categories),
        "observation_goal": d.observation_goal or project.purpose,
        "legal_ground": project.legal_basis,
        "active_until": d.active_until.isoformat() if d.active_until else None,
        "status": device.status.value,
        "project_status": project.status.value,
    }


def _name(c: object) -> str:
    return str(getattr(c, "name", ""))
