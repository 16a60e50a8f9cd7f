"""The accessible crossing's report page (`charter sim crossing --report`): one
self-contained page, the figures and the plots as inline SVG (matplotlib when it is
installed, plain SVG otherwise), no external assets."""

from __future__ import annotations

from html import escape
from typing import Any

from charter.report.page import STYLE, inline_svg
from charter.sim.sumo.crossing import RunResult


def _occupancy_svg(results: dict[str, RunResult]) -> str:
    """People on the crosswalk when a conflicting stream got green, per run (inline SVG)."""
    try:
        import matplotlib
    except ImportError:
        return _occupancy_svg_plain(results)
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.2))
    ax = fig.add_subplot()
    for mode, colour_, marker in (("standard", "#b33", "o"), ("charter", "#3b6ea5", "s")):
        r = results.get(mode) or (results.get("extension") if mode == "charter" else None)
        if r is None:
            continue
        xs = [t / 60 for t, _ in r.occupancy]
        ys = [n for _, n in r.occupancy]
        label = "standard timing" if mode == "standard" else "Charter (extension + alert)"
        ax.step(xs, ys, where="post", color=colour_, label=label, alpha=0.8)
        ax.plot(xs, ys, marker, color=colour_, markersize=3)
    ax.set_xlabel("simulated minute")
    ax.set_ylabel("on the crosswalk")
    ax.set_title("Pedestrians still on the crosswalk when a conflicting stream gets green")
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return inline_svg(fig)


CONFLICT_RUNS = (
    ("standard", "#888", "standard timing"),
    ("extension", "#b33", "extension, vehicles ignore the alert"),
    ("charter", "#3b6ea5", "extension, connected vehicles heed the alert"),
)


def _conflicts_svg(results: dict[str, RunResult]) -> str:
    """Vehicle–pedestrian conflicts (time to collision below 1.5 s) as they add up, per
    run (inline SVG)."""
    runs = [(m, c, label, results[m]) for m, c, label in CONFLICT_RUNS if m in results]
    try:
        import matplotlib
    except ImportError:
        return _steps_svg_plain([(c, label, _cumulative(r)) for _m, c, label, r in runs])
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.2))
    ax = fig.add_subplot()
    for _m, colour_, label, r in runs:
        pts = _cumulative(r)
        ax.step([t / 60 for t, _ in pts], [n for _, n in pts], where="post", color=colour_,
                label=f"{label} ({len(r.conflicts)})")  # fmt: skip
    ax.set_xlabel("simulated minute")
    ax.set_ylabel("conflicts so far")
    ax.set_title("Vehicle–pedestrian conflicts at the crosswalk (time to collision < 1.5 s)")
    ax.legend(frameon=False, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return inline_svg(fig)


def _cumulative(r: RunResult) -> list[tuple[float, int]]:
    """Conflicts so far, from the start to the run's last sampled step (so a run whose
    last conflict came early still reaches the end of the plot)."""
    times = sorted(r.conflicts.values())
    pts = [(0.0, 0)] + [(t, n + 1) for n, t in enumerate(times)]
    end = max([t for t, _ in r.occupancy] + times, default=0.0)
    return [*pts, (end, len(times))]


def _steps_svg_plain(series: list[tuple[str, str, list[tuple[float, int]]]]) -> str:
    """Step lines by hand, when matplotlib is not installed."""
    w, h, pad = 720, 240, 30
    t_max = max((t for _, _, pts in series for t, _ in pts), default=1.0) or 1.0
    n_max = max((n for _, _, pts in series for _, n in pts), default=1) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}">']
    for col, label, pts in series:
        xy = " ".join(
            f"{pad + t / t_max * (w - 2 * pad):.1f},{h - pad - n / n_max * (h - 2 * pad):.1f}"
            for t, n in pts
        )
        parts.append(f'<polyline fill="none" stroke="{col}" points="{xy}"><title>'
                     f"{escape(label)}</title></polyline>")  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def _occupancy_svg_plain(results: dict[str, RunResult]) -> str:
    """The same plot by hand, when matplotlib is not installed."""
    w, h, pad = 720, 240, 30
    runs = [(m, results[m]) for m in ("standard", "charter") if m in results]
    t_max = max((t for _, r in runs for t, _ in r.occupancy), default=1.0) or 1.0
    n_max = max((n for _, r in runs for _, n in r.occupancy), default=1) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}">']
    for (mode, r), col in zip(runs, ("#b33", "#3b6ea5"), strict=False):
        pts = " ".join(
            f"{pad + t / t_max * (w - 2 * pad):.1f},{h - pad - n / n_max * (h - 2 * pad):.1f}"
            for t, n in r.occupancy
        )
        parts.append(f'<polyline fill="none" stroke="{col}" points="{pts}"><title>{mode}'
                     "</title></polyline>")  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def report_html(figs: dict[str, Any], results: dict[str, RunResult]) -> str:
    """A self-contained page: the figures and the occupancy plot (no external assets)."""
    rows = "".join(
        f"<tr><td>{escape(k.replace('_', ' '))}</td><td class='n'>{escape(str(v))}</td></tr>"
        for k, v in figs.items()
    )
    caught = "".join(
        f"<tr><td>{escape(m)}</td>"
        + "".join(
            f"<td class='n'>{len(r.caught.get(k, set()))} of {len(r.crossed.get(k, set()))}</td>"
            for k in ("slow-consented", "slow", "normal")
        )
        + "</tr>"
        for m, r in results.items()
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>Accessible crossing</title><style>{STYLE}</style></head><body>"
        "<h1>Accessible crossing on SUMO</h1>"
        f"<p class='muted'>Crosswalk <code>{escape(str(figs['crossing']))}</code>: "
        f"{figs['length_m']} m, walk {figs['walk_s']} s, clearance {figs['clearance_s']} s "
        f"as programmed; for 0.9 m/s the service adds {figs['extra_walk_s']} s of walk and "
        f"up to {figs['extra_clearance_s']} s of clearance.</p>"
        f"<div class='plot'>{_occupancy_svg(results)}</div>"
        f"<div class='plot'>{_conflicts_svg(results)}</div>"
        "<p class='muted'>A conflict: a vehicle heading over the crosswalk (on green, or "
        "already in the junction) and a pedestrian on it or stepping onto it whose time to "
        "collision, at their present speeds, falls below 1.5 s; each pair counted once. "
        f"Connected vehicles in the last run: {escape(str(figs.get('connected_share')))} "
        "of all.</p>"
        "<h2>Caught on the crosswalk when a conflicting stream got green</h2>"
        "<table><thead><tr><th>run</th><th class='n'>slow, consented</th>"
        "<th class='n'>slow, not consented</th>"
        f"<th class='n'>normal</th></tr></thead><tbody>{caught}</tbody></table>"
        f"<h2>Figures</h2><table><tbody>{rows}</tbody></table></body></html>"
    )
