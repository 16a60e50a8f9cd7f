"""The preemption experiment as one self-contained HTML page, its plots inline (SVG)."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from charter.report.page import STYLE, inline_svg

COLOURS = {"none": "#8c8c8c", "baseline": "#d08c2a", "charter": "#2f6db5", "free": "#3a9a50"}


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _svg(fig: Any) -> str:
    return inline_svg(fig)


def _figure(w: float, h: float) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h))


def _by(detail: list[dict[str, Any]], variant: str, key: str) -> dict[int, float]:
    return {
        r["trip"]: float(r[key])
        for r in detail
        if r.get("variant") == variant and r.get(key) is not None
    }


def travel_times_svg(detail: list[dict[str, Any]]) -> str:
    fig = _figure(7, 3.6)
    ax = fig.add_subplot()
    series = {v: list(_by(detail, v, "travel_s").values()) for v in ("none", "baseline", "charter")}
    series["free"] = list(_by(detail, "none", "free_s").values())
    labels = [k for k, v in series.items() if v]
    if labels:
        box = ax.boxplot([series[k] for k in labels], patch_artist=True, orientation="horizontal")
        ax.set_yticks(range(1, len(labels) + 1), labels)
        for patch, k in zip(box["boxes"], labels, strict=True):
            patch.set_facecolor(COLOURS[k])
    ax.set_xlabel("emergency vehicle travel time (s)")
    ax.set_title("Emergency travel time per trip")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def others_svg(detail: list[dict[str, Any]]) -> str:
    fig = _figure(7, 3.6)
    ax = fig.add_subplot()
    none = _by(detail, "none", "others_loss_s")
    for v in ("baseline", "charter"):
        other = _by(detail, v, "others_loss_s")
        trips = sorted(set(none) & set(other))
        shift = -0.15 if v == "baseline" else 0.15  # side by side, one pair per trip
        ax.bar(
            [k + shift for k in trips],
            [100 * (other[k] / none[k] - 1) if none[k] > 0 else 0.0 for k in trips],
            width=0.3,
            color=COLOURS[v],
            label=v,
        )
    ax.axhline(0, color="#444", lw=0.8)
    ax.set_xticks(sorted(none))  # trips are counted, not measured: one tick each
    ax.set_xlabel("trip")
    ax.set_ylabel("others' extra time loss (%)")
    ax.set_title("Everyone else's extra time loss over the window, against no preemption")
    ax.legend()
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def time_space_svg(detail: list[dict[str, Any]]) -> str:
    """Distance along the route against time, with the next signal's light as the vehicle
    approaches it (green, yellow or red dots at that signal's stop line)."""
    fig = _figure(7, 4.4)
    ax = fig.add_subplot()
    light_colour = {"g": "#2ca02c", "y": "#e0b000", "r": "#d62728"}
    for r in detail:
        if "path" not in r:
            continue
        v = r["variant"]
        ts, ds = [p[0] for p in r["path"]], [p[1] for p in r["path"]]
        ax.plot(ts, ds, color=COLOURS[v], label=v, lw=1.8)
        if v != "charter" and v != "none":
            continue
        dist = dict(zip(ts, ds, strict=True))
        xs, ys, cs = [], [], []
        for t, light in r.get("lights", []):
            if not light:
                continue
            _tls, ahead, state = light.split("|")
            d = dist.get(t)
            if d is None:
                continue
            c = "g" if state in "Gg" else "y" if state in "yY" else "r"
            xs.append(t)
            ys.append(d + float(ahead))
            cs.append(light_colour[c])
        ax.scatter(xs, ys, c=cs, s=3, marker="s", alpha=0.5 if v == "none" else 0.9)
    ax.set_xlabel("time since the trip's start (s)")
    ax.set_ylabel("distance along the route (m)")
    ax.set_title("One trip through its signals (dots: the next signal's light)")
    ax.legend()
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def render(
    figures: dict[str, Any], extra: dict[str, Any], detail: list[dict[str, Any]], net: str
) -> str:
    rows = "".join(
        f"<tr><td>{_e(k.replace('_', ' '))}</td><td class='n'>{_e(v)}</td></tr>"
        for k, v in figures.items()
    )
    means = extra.get("_means_s", {})
    mean_rows = "".join(
        f"<tr><td>{_e(k)}</td><td class='n'>{_e(v)}</td></tr>" for k, v in means.items()
    )
    return "".join(
        [
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
            "<title>Emergency-vehicle preemption</title>",
            f"<style>{STYLE}</style></head><body>",
            f"<h1>Emergency-vehicle preemption on {_e(net)}</h1>",
            "<p>Each emergency trip was driven from one identical simulation state (a fork) "
            "with no preemption, with the field systems' simple preemption (baseline) and "
            "with Charter's service; the free-flow time is the same route alone on the "
            "empty network, as if every signal were green.</p>",
            f"<table><tbody>{rows}</tbody></table>",
            "<h2>Mean emergency travel time (s)</h2>",
            f"<table><tbody>{mean_rows}</tbody></table>",
            f"<div class='plot'>{travel_times_svg(detail)}</div>",
            f"<div class='plot'>{others_svg(detail)}</div>",
            f"<div class='plot'>{time_space_svg(detail)}</div>",
            "<h2>The JSON line</h2>",
            "<pre style='white-space:pre-wrap;word-break:break-all'>",
            f"{_e(json.dumps(figures))}</pre>",
            "</body></html>",
        ]
    )


def write_report(
    path: Path,
    figures: dict[str, Any],
    extra: dict[str, Any],
    detail: list[dict[str, Any]],
    net: str,
) -> None:
    path.write_text(render(figures, extra, detail, net), encoding="utf-8")
