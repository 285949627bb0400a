"""``python -m bot report``: quality, cost and latency per prompt version, variant and model,
with 95% intervals, and each experiment's verdict; as a table, JSON, or an HTML page."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bot.operations.feedback import Selection, selected
from bot.operations.operator_commands import operator_store, parse_since
from bot.quality.render import page, table
from bot.quality.signals import QualityLog
from bot.quality.stats import experiments, rows_of


async def quality_report(settings: Any, since: str | None, experiment: str | None, html_path: str | None,
                         as_json: bool) -> None:
    from bot.runtime import StartupError

    start = parse_since(since) if since else None
    if since and start is None:
        raise StartupError(f"--since {since!r}: give a duration (30m, 24h, 7d) or a UTC date or time (2026-12-01).")
    async with operator_store(settings, "the quality signals live in the Redis the bot uses; set REDIS_URL") as store:
        signals = await QualityLog(store.redis, store.keys).read(since=start)
        ratings = await selected(store, Selection(include_private=True))  # only counts leave: private ones too
    rows = rows_of(signals, ratings, since=start, prompt=experiment)
    found = experiments(rows_of(signals, ratings, since=start, prompt=experiment, by_model=False))
    period = f"since {start:%Y-%m-%d %H:%M} UTC" if start else "everything kept (90 days)"
    if as_json:
        print(json.dumps({"period": period, "rows": [_plain(row) for row in rows],
                          "experiments": [{"prompt": e.prompt, "version": e.version, "winner": e.winner,
                                           "signal": e.signal, "verdict": e.verdict} for e in found]}, indent=2))
    else:
        print(table(rows, found), end="")
        print(f"{len(rows)} row(s), {period}; generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC", file=sys.stderr)
    if html_path:
        Path(html_path).write_text(page(rows, found, period=period), encoding="utf-8")
        print(f"wrote {html_path}", file=sys.stderr)


def _plain(row: Any) -> dict[str, Any]:
    return {**asdict(row.arm), "answers": row.answers,
            "ratings": {"up": row.ratings.k, "n": row.ratings.n, "share": row.ratings.value, "ci95": row.ratings.interval},
            "judge": {"pass": row.scores.k, "n": row.scores.n, "share": row.scores.value, "ci95": row.scores.interval},
            "cost_per_answer_usd": row.cost.value, "cost_ci95": row.cost.interval,
            "latency_ms_p50": row.latency.percentile(0.5), "latency_ms_p95": row.latency.percentile(0.95)}


def add_report_parser(commands: Any) -> None:
    report = commands.add_parser("report", help="quality, cost and latency per prompt version, variant and model")
    report.add_argument("--since", help="how far back: 24h, 7d, or a UTC date (default: everything kept)")
    report.add_argument("--experiment", help="only this prompt (its versions and variants)")
    report.add_argument("--html", dest="html_path", help="also write an HTML page with charts to this file")
    report.add_argument("--json", action="store_true", dest="report_json", help="JSON instead of the table")
