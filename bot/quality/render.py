"""The report as a table (for a terminal) and as one self-contained HTML page with charts
(inline SVG: no script, nothing fetched)."""

from __future__ import annotations

import html
from typing import Sequence

from bot.quality.stats import Experiment, Mean, Row, Share

COLUMNS = ("prompt", "v", "variant", "model", "answers", "👍 share (95% CI)", "judge PASS (95% CI)", "cost/answer",
           "latency p50 / p95")


def share_text(share: Share) -> str:
    if not share.n:
        return "-"
    low, high = share.interval  # type: ignore[misc]
    return f"{share.value:.0%} [{low:.0%}–{high:.0%}] n={share.n}"


def cost_text(cost: Mean) -> str:
    if cost.value is None:
        return "-"
    interval = cost.interval
    return f"${cost.value:.5f}" + (f" ±{(interval[1] - interval[0]) / 2:.5f}" if interval else "")


def latency_text(latency: Mean) -> str:
    p50, p95 = latency.percentile(0.5), latency.percentile(0.95)
    return "-" if p50 is None or p95 is None else f"{p50 / 1000:.2f}s / {p95 / 1000:.2f}s"


def cells(row: Row) -> list[str]:
    return [row.arm.prompt, str(row.arm.version), row.arm.variant or "-", row.arm.model or "(all)", str(row.answers),
            share_text(row.ratings), share_text(row.scores), cost_text(row.cost), latency_text(row.latency)]


def table(rows: Sequence[Row], found: Sequence[Experiment]) -> str:
    lines = [list(COLUMNS), *(cells(row) for row in rows)]
    widths = [max(len(line[n]) for line in lines) for n in range(len(COLUMNS))]
    out = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines]
    for experiment in found:
        out += ["", f"Experiment {experiment.prompt} v{experiment.version}: {experiment.verdict}"]
    return "\n".join(out) + "\n"


def page(rows: Sequence[Row], found: Sequence[Experiment], *, period: str) -> str:
    """One HTML page: the table, each experiment's verdict, and a chart per signal."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells(row)) + "</tr>" for row in rows)
    verdicts = "".join(f"<p><b>{html.escape(e.prompt)} v{e.version}</b>: {html.escape(e.verdict)}</p>" for e in found)
    charts = "".join([
        _chart("Share of 👍 ratings", rows, lambda r: (r.ratings.value, r.ratings.interval), percent=True),
        _chart("Online judge: share of PASS", rows, lambda r: (r.scores.value, r.scores.interval), percent=True),
        _chart("Cost per answer (USD)", rows, lambda r: (r.cost.value, r.cost.interval), percent=False),
        _chart("Latency p95 (s)", rows, lambda r: ((r.latency.percentile(0.95) or 0) / 1000 if r.latency.values else None,
                                                    None), percent=False),
    ])
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Assistant quality report</title><style>"
            "body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}th{background:#f3f3f3}"
            "figure{display:inline-block;margin:1em 2em 1em 0}figcaption{font-weight:600}</style></head><body>"
            f"<h1>Quality report</h1><p>{html.escape(period)}</p><table><tr>{head}</tr>{body}</table>"
            f"<h2>Experiments</h2>{verdicts or '<p>None running.</p>'}<h2>Charts</h2>{charts}</body></html>\n")


def _chart(title: str, rows: Sequence[Row], pick, *, percent: bool) -> str:  # type: ignore[no-untyped-def]
    """Horizontal bars with their 95% interval as a whisker."""
    points = [(row, *pick(row)) for row in rows]
    points = [(row, value, interval) for row, value, interval in points if value is not None]
    if not points:
        return f"<figure><figcaption>{html.escape(title)}</figcaption><p>No data yet.</p></figure>"
    top = max(max(value, interval[1] if interval else value) for _, value, interval in points) or 1.0
    width, bar, label = 360, 18, 220
    parts = []
    for n, (row, value, interval) in enumerate(points):
        y = 10 + n * (bar + 8)
        name = f"{row.arm.prompt} v{row.arm.version} {row.arm.variant or ''} {row.arm.model}".strip()
        shown = f"{value:.0%}" if percent else f"{value:.4g}"
        parts.append(f"<text x='0' y='{y + 13}' font-size='12'>{html.escape(name[:34])}</text>"
                     f"<rect x='{label}' y='{y}' width='{width * value / top:.1f}' height='{bar}' fill='#4a7bd0'/>"
                     f"<text x='{label + width * value / top + 4:.1f}' y='{y + 13}' font-size='11'>{shown}</text>")
        if interval:
            low, high = (label + width * max(0.0, v) / top for v in interval)
            parts.append(f"<line x1='{low:.1f}' x2='{high:.1f}' y1='{y + bar / 2}' y2='{y + bar / 2}' stroke='#111'/>")
    height = 20 + len(points) * (bar + 8)
    return (f"<figure><figcaption>{html.escape(title)}</figcaption><svg xmlns='http://www.w3.org/2000/svg' "
            f"width='{label + width + 80}' height='{height}'>{''.join(parts)}</svg></figure>")
