"""The transparency report as one self-contained HTML page with its plots inline.

Every value that comes from data (project names, comments, themes, responses,
reasons) is escaped: text that looks like HTML or script is shown, never run.
"""

from __future__ import annotations

import io
from html import escape
from typing import Any

from charter.report.transparency import NOT_RECORDED, TransparencyReport

STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1b1b1b;line-height:1.5}
table{border-collapse:collapse;margin:1rem 0;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#666}.plot svg{max-width:100%;height:auto}
blockquote{margin:.3rem 0;padding-left:.8rem;border-left:3px solid #ccc;white-space:pre-wrap}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def bar_svg(title: str, data: dict[str, int], colour: str = "#3b6ea5") -> str:
    """A horizontal bar chart as an inline SVG element (no external assets)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    labels = list(data)
    fig = Figure(figsize=(7, 0.45 * max(2, len(labels)) + 0.9))
    ax = fig.add_subplot()
    bars = ax.barh(labels, [data[k] for k in labels], color=colour)
    ax.bar_label(bars, padding=3)
    ax.invert_yaxis()
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    return inline_svg(fig)


def inline_svg(fig: Any) -> str:
    """A matplotlib figure as an inline <svg> element, laid out, with no date in it
    (so the same run gives the same bytes)."""
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]


def _table(headers: list[str], rows: list[list[object]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_e(v)}</td>' if i in numeric else f"<td>{_e(v)}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(r: TransparencyReport) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>Transparency report: {_e(r.scope_name)}</title><style>{STYLE}</style></head>",
        f"<body><h1>Transparency report: {_e(r.scope_name)}</h1>",
        f"<p class='muted'>Generated {_e(r.generated_at)} from the platform's own records, "
        f"against ledger checkpoint of size {_e(r.checkpoint['size'])}, root "
        f"<code>{_e(r.checkpoint['root'])}</code> (signed {_e(r.checkpoint['at'])}).</p>",
        "<h2>Readings</h2>",
        _table(
            ["what", "count"],
            [
                ["admitted", r.admitted],
                ["rejected", r.rejected_total],
                ["in quarantine (held)", r.quarantine_held],
                ["replayed from quarantine", r.quarantine_replayed],
            ],
            {1},
        ),
    ]
    if len(r.admitted_by_project) > 1 and any(r.admitted_by_project.values()):
        plot = bar_svg("Readings admitted by project", r.admitted_by_project, "#5a8f29")
        parts.append(f"<h3>Admitted, by project</h3><div class='plot'>{plot}</div>")
    if r.rejected:
        parts.append("<h3>Rejected, by reason</h3>")
        parts.append(
            f"<div class='plot'>{bar_svg('Rejected readings by reason', r.rejected)}</div>"
        )
        parts.append(_table(["reason", "count"], [[k, v] for k, v in r.rejected.items()], {1}))
    else:
        parts.append("<p>No readings were rejected.</p>")

    parts.append("<h2>Projects</h2>")
    parts.append(_table(["status", "projects"], list(map(list, r.projects_by_status.items())), {1}))

    parts.append("<h2>Consultations and their outcomes</h2>")
    if r.consultations:
        outcomes: dict[str, int] = {}
        for c in r.consultations:
            outcomes[c.status] = outcomes.get(c.status, 0) + 1
        parts.append(
            f"<div class='plot'>{bar_svg('Consultations by outcome', outcomes, '#5a8f29')}</div>"
        )
        parts.append(
            _table(
                [
                    "project",
                    "kind",
                    "outcome",
                    "opened",
                    "closes",
                    "support",
                    "oppose",
                    "comments",
                    "themes answered",
                ],
                [
                    [
                        c.project_name,
                        c.kind,
                        c.status,
                        c.opened_at[:10],
                        c.closes_at[:10],
                        c.support,
                        c.oppose,
                        c.comments,
                        f"{c.answered} of {c.themes}",
                    ]
                    for c in r.consultations
                ],
                {5, 6, 7},
            )
        )
        for c in r.consultations:
            if not c.responses:
                continue
            parts.append(f"<h3>You said, we did: {_e(c.project_name)} ({_e(c.kind)})</h3>")
            for t in c.responses:
                parts.append(
                    f"<p><strong>{_e(t['theme'])}</strong>: {_e(t['summary'] or '')}</p>"
                    f"<blockquote>{_e(t['response'] or 'No response published yet.')}</blockquote>"
                )
    else:
        parts.append("<p>No consultations yet.</p>")
    if r.recent_comments:
        parts.append("<h3>What people said (most recent, without names)</h3>")
        for m in r.recent_comments:
            parts.append(
                f"<p class='muted'>{_e(m['at'][:10])}, {_e(m['stance'])}</p>"
                f"<blockquote>{_e(m['text'])}</blockquote>"
            )

    parts.append("<h2>Incidents</h2>")
    if r.incidents:
        parts.append(
            _table(
                ["when", "what", "subject", "change", "why", "ledger entry"],
                [[i.at, i.kind, i.subject, i.change, i.why, i.ledger_index] for i in r.incidents],
            )
        )
    else:
        parts.append("<p>No suspensions or revocations.</p>")

    parts.append("<h2>Residents' rights</h2>")
    parts.append("<h3>Consent by data category</h3>")
    if isinstance(r.consent, str):
        parts.append(f"<p class='muted'>{_e(NOT_RECORDED)}</p>")
    else:
        rows_c: list[list[object]] = [
            [k, v.get("given", 0), v.get("withdrawn", 0)] for k, v in r.consent.items()
        ]
        parts.append(_table(["category", "given", "withdrawn"], rows_c, {1, 2}))
    parts.append("<h3>Access requests by purpose and outcome</h3>")
    if isinstance(r.access_requests, str):
        parts.append(f"<p class='muted'>{_e(NOT_RECORDED)}</p>")
    else:
        rows: list[list[object]] = [
            [purpose, outcome, n]
            for purpose, by in r.access_requests.items()
            for outcome, n in by.items()
        ]
        parts.append(_table(["purpose", "outcome", "requests"], rows, {2}))
    parts.append("<h3>Retention: runs and what they removed</h3>")
    if isinstance(r.retention, str):
        parts.append(f"<p class='muted'>{_e(NOT_RECORDED)}</p>")
    elif not r.retention:
        parts.append("<p>The retention job has not run yet.</p>")
    else:
        rows_r: list[list[object]] = [[run["at"], run["removed"]] for run in r.retention]
        parts.append(_table(["run at", "readings removed"], rows_r, {1}))
    parts.append(
        "<h2>Checkpoint</h2><p>Verify these figures' ledger with "
        "<code>charter ledger verify</code>; the signed checkpoint:</p>"
        f"<pre>{_e(r.checkpoint['note'])}</pre></body></html>"
    )
    return "\n".join(parts)
