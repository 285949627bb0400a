"""Benchmark: what the cost ledger and the quotas add to one answer.

Run:  .venv/bin/python -m bench.bench_ledger [--answers 2000]   (Redis at BENCH_REDIS_URL,
                                                                  default redis://127.0.0.1:6379/0)

The ledger's entries ride in the answer's commit batch and the quota read in the batch the
bot sends before the model call, so neither adds a round trip.  Measured, interleaved, on the
real Redis: an admission batch (flood count and a status-budget call stand-in) with and without
the quota read, and a commit-sized batch (turns and a record) with and without the ledger's
entries; the difference is what they add per answer.  Target: <= 0.3 ms at p50, no extra trip.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.memory.batch import Batch  # noqa: E402
from bot.memory.conversation import Keys  # noqa: E402
from bot.memory.connection import connect  # noqa: E402
from bot.pricing import load_prices  # noqa: E402
from bot.usage.ledger import CallUsage, Ledger  # noqa: E402


async def main_async(answers: int) -> None:
    redis = connect(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    prefix = f"bench-ledger-{uuid.uuid4().hex[:8]}"
    keys = Keys(prefix)
    ledger = Ledger(redis, keys, load_prices(ROOT / "prices.yaml"))
    now = datetime.now(timezone.utc)
    usage = CallUsage("gpt-4o-mini", "system", 5200, 4800, 310)
    timings: dict[str, list[float]] = {"admission": [], "admission+quota": [], "commit": [], "commit+ledger": []}
    trips = {name: 0 for name in timings}

    def admission(with_quota: bool, n: int) -> Batch:
        batch = Batch()
        batch.command("ZADD", f"{prefix}:flood", n, str(n))
        batch.command("ZCARD", f"{prefix}:flood")
        batch.command("INCR", f"{prefix}:budget")
        if with_quota:
            read = ledger.spent_in(batch, "T1", "C1", f"U{n % 50}", now)
            batch.read = read  # type: ignore[attr-defined]
        return batch

    def commit(with_ledger: bool, n: int) -> Batch:
        batch = Batch()
        batch.command("RPUSH", f"{prefix}:messages", "x" * 300, "y" * 600)
        batch.command("SET", f"{prefix}:answer", "z" * 200)
        if with_ledger:
            ledger.record_in(batch, "T1", "C1", f"U{n % 50}", usage, now)
        return batch

    cpu = []
    try:
        for n in range(answers):
            for name, build in (("admission", lambda: admission(False, n)), ("admission+quota", lambda: admission(True, n)),
                                ("commit", lambda: commit(False, n)), ("commit+ledger", lambda: commit(True, n))):
                started = time.perf_counter()
                batch = build()
                await batch.run(redis)
                trips[name] += 1
                if hasattr(batch, "read"):
                    batch.read()  # type: ignore[attr-defined]
                timings[name].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            scratch = Batch()
            ledger.record_in(scratch, "T1", "C1", "U1", usage, now)
            ledger.spent_in(scratch, "T1", "C1", "U1", now)
            cpu.append((time.perf_counter() - started) * 1000)
    finally:
        found = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
        if found:
            await redis.delete(*found)
        await redis.aclose()
    p50 = {name: statistics.median(values[answers // 10:]) for name, values in timings.items()}
    added = (p50["admission+quota"] - p50["admission"]) + (p50["commit+ledger"] - p50["commit"])
    print(f"{answers} answers, p50 per batch (first 10% left out as warm-up):")
    for name in timings:
        print(f"  {name:16} {p50[name]:.3f} ms, {trips[name] // answers} round trip")
    print(f"added per answer by the quota read and the ledger: {added:.3f} ms at p50, no extra round trip "
          f"(target <= 0.3 ms); building them: {statistics.median(cpu) * 1000:.0f} µs of CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main_async(args.answers))


if __name__ == "__main__":
    main()
