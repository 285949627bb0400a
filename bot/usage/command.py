"""``python -m bot usage``: tokens and cost per user, channel, model, prompt or workspace
over a range of UTC days, from the ledger in Redis, as a table, JSON or CSV."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime, timezone
from typing import TextIO

from bot.usage.ledger import DAY_TTL_SECONDS, Ledger, Totals, days_between



def parse_day(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise ValueError(f"{text!r} is not a date like 2026-11-01") from None


def rows_by(found: dict[str, dict[str, dict[str, Totals]]], by: str) -> dict[str, Totals]:
    """Per team, per owner of ``by``: one row per owner (the team's id first when several teams)."""
    rows: dict[str, Totals] = {}
    several = len(found) > 1
    for team, dimensions in sorted(found.items()):
        for owner, totals in sorted((dimensions.get(by) or {}).items()):
            name = team if by == "team" else (f"{team}/{owner}" if several else owner)
            rows.setdefault(name, Totals()).add(totals)
    return rows


def write_table(rows: dict[str, Totals], by: str, out: TextIO) -> None:
    width = max([len(name) for name in rows] + [len(by), 5])
    out.write(f"{by.ljust(width)}  {'calls':>7}  {'input':>12}  {'cached (share)':>20}  {'output':>12}  {'cost USD':>12}\n")
    total = Totals()
    for name, totals in sorted(rows.items(), key=lambda item: -item[1].cost_usd):
        total.add(totals)
        out.write(_line(name, totals, width))
    out.write(_line("total", total, width))


def _line(name: str, t: Totals, width: int) -> str:
    cached = f"{t.cached_tokens:,} ({t.cached_share:.0%})"
    cost = f"{t.cost_usd:,.4f}" + ("*" if t.unpriced_calls else "")
    return f"{name.ljust(width)}  {t.calls:>7,}  {t.input_tokens:>12,}  {cached:>20}  {t.output_tokens:>12,}  {cost:>12}\n"


def as_records(rows: dict[str, Totals], by: str) -> list[dict[str, object]]:
    return [{by: name, "calls": t.calls, "input_tokens": t.input_tokens, "cached_input_tokens": t.cached_tokens,
             "output_tokens": t.output_tokens, "cost_usd": round(t.cost_usd, 6), "unpriced_calls": t.unpriced_calls}
            for name, t in sorted(rows.items())]


async def usage_command(redis, ledger: Ledger, *, since: str | None, until: str | None, by: str, fmt: str,
                        out: TextIO | None = None, now: datetime | None = None) -> int:
    out = out or sys.stdout
    now = now or datetime.now(timezone.utc)
    last = parse_day(until) if until else now
    first = parse_day(since) if since else last.replace(day=1)
    if first > last:
        raise ValueError("--since is after --until")
    days = days_between(first, last)
    teams = await ledger.teams(redis)
    found = {team: await ledger.totals(redis, team, days) for team in teams}
    rows = rows_by(found, by)
    if fmt == "json":
        json.dump({"since": days[0], "until": days[-1], "by": by, "rows": as_records(rows, by)}, out, indent=2)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=[by, "calls", "input_tokens", "cached_input_tokens", "output_tokens",
                                                 "cost_usd", "unpriced_calls"])
        writer.writeheader()
        writer.writerows(as_records(rows, by))
    else:
        out.write(f"Usage {days[0]} to {days[-1]} (UTC days), by {by}\n")
        write_table(rows, by, out)
        if (now - first).total_seconds() > DAY_TTL_SECONDS:
            out.write(f"(daily figures are kept {DAY_TTL_SECONDS // 86400} days: earlier days are not counted)\n")
        if any(t.unpriced_calls for t in rows.values()):
            out.write("* some calls used a model with no price in PRICES_FILE (counted as $0)\n")
    return len(rows)
