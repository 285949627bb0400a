"""Benchmark: the bot at scale: 1 and 2 worker processes, a single Redis and a Redis Cluster.

Run:  .venv/bin/python -m bench.bench_scale            (single Redis at BENCH_REDIS_URL, default
      .venv/bin/python -m bench.bench_scale --quick    redis://127.0.0.1:6379/0; the 3-primary
                                                       cluster is started here from redis-server)

The bot runs as ``python -m bot serve --workers N`` (N processes on one port, the kernel
spreading connections between them) against the fake Slack and fake model of tests/fakes
(in this process, no Slack rate tiers).  Events are signed and sent from a separate
process, each on a connection opened beforehand, all at once.  For each store (single
Redis, then the cluster) and each worker count it reports:

1. Acks: ``--acks`` mentions at once: acks per second (first send to last ack) and ack p50/p99.
2. Answers with a fast model (a one-line answer at once, so the figure is the bot's own
   overhead): ``--answers`` mentions at once: answers per second (first send to last answer).
3. Streaming (2 workers only): ``--streams`` conversations at once, each answer streamed
   over 2 seconds: how many were answered, ack p99, and the time until the last answer.

This machine has 2 cores shared by the workers, Redis, the fakes and the sender: compare
figures within one run, and read the 2-worker figures as what a second core buys here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_load import TIKTOKEN_DIR, percentile  # noqa: E402
from tests.fakes.openai_api import FakeModel, Scripted  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402
from tests.harness import SIGNING_SECRET, SlackSender, delete_prefix, mention  # noqa: E402
from tests.processes import BotProcess  # noqa: E402
from tests.redis_servers import start_cluster  # noqa: E402

STREAMED = " ".join(f"word{n}" for n in range(40))  # 20 chunks, 100 ms apart: 2 seconds
QUICK = "A short answer."


async def _send(url: str, bodies: list[tuple[str, bytes]]) -> dict[str, tuple[float, float]]:
    host, port = url.removeprefix("http://").split(":")
    connections = []
    for _ in bodies:  # opened first (and not all at once: the listen backlog is finite)
        connections.append(await asyncio.open_connection(host, int(port)))
    signer = SlackSender(url)
    times: dict[str, tuple[float, float]] = {}

    async def one(key: str, body: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = {"Content-Type": "application/json", **signer.sign(body), "Content-Length": str(len(body)), "Host": "b"}
        head = b"POST /slack/events HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
        sent = time.time()
        writer.write(head + b"\r\n" + body)
        status = await reader.readline()
        times[key] = (sent, time.time())
        if b" 200 " not in status:
            raise SystemExit(f"the bot answered {status!r}")
        writer.close()

    await asyncio.gather(*(one(k, b.encode(), r, w) for (k, b), (r, w) in zip(bodies, connections)))
    signer.close()
    return times


def send_all(url: str, events: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """(sent, acked) wall-clock times per event ts, sent from a separate process."""
    bodies = [(e["ts"], json.dumps(SlackSender.envelope(e))) for e in events]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(bodies, f)
    try:
        result = subprocess.run([sys.executable, "-m", "bench.bench_scale", "--send", url, f.name], cwd=ROOT,
                                capture_output=True, text=True, check=True)
    finally:
        os.unlink(f.name)
    return {key: (sent, acked) for key, (sent, acked) in json.loads(result.stdout).items()}


class Run:
    """The fakes and a bot of ``workers`` processes on one store."""

    def __init__(self, redis_url: str, workers: int, answer: Scripted) -> None:
        self.redis_url = redis_url
        self.slack, self.model = FakeSlack().start(), FakeModel(strict_templates=False).start()
        self.slack.rate_limits.clear()
        self.slack.users.update({"U1": "alice"})
        self.slack.channels.update({"C100": "general"})
        self.model.default = answer
        self.prefix = f"bench-scale-{uuid.uuid4().hex[:8]}"
        env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "PYTHONPATH": str(ROOT),
               "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SIGNING_SECRET, "OPENAI_API_KEY": "sk-b",
               "SLACK_API_URL": self.slack.base_url, "OPENAI_BASE_URL": self.model.base_url, "REDIS_URL": redis_url,
               "REDIS_KEY_PREFIX": self.prefix, "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "ERROR"), "STREAM_UPDATE_INTERVAL_SECONDS": "1",
               "SLACK_UPDATES_PER_MINUTE": "1000000", "USER_MESSAGES_PER_MINUTE": "10000",
               "MAX_CONCURRENT_ANSWERS": "2000", "REDIS_MAX_CONNECTIONS": "200", "TIKTOKEN_CACHE_DIR": TIKTOKEN_DIR,
               "METRICS_PORT": "0", "AGENT_SESSIONS": "false"}
        self.bot = BotProcess(env, ["--workers", str(workers)]).wait_ready()
        warm = [mention(f"warm up {n}") for n in range(4 * workers)]  # every worker has answered once
        send_all(self.bot.url, warm)
        self.wait_answers({e["ts"] for e in warm}, 60)

    def wait_answers(self, threads: set[str], timeout: float) -> float:
        """Wait until every thread has its final answer; the wall-clock time of the last one."""
        final = {QUICK, STREAMED}
        deadline = time.monotonic() + timeout
        while True:
            done = {m.thread_ts: m for m in self.slack.posts() if m.thread_ts in threads and m.text in final}
            if len(done) >= len(threads) or time.monotonic() > deadline:
                return time.time()
            time.sleep(0.02)

    def answered(self, threads: set[str]) -> int:
        return len({m.thread_ts for m in self.slack.posts() if m.thread_ts in threads and m.text in (QUICK, STREAMED)})

    def close(self) -> None:
        self.bot.close()
        self.slack.stop()
        self.model.stop()
        delete_prefix(self.redis_url, self.prefix)


def acks(redis_url: str, workers: int, count: int) -> dict[str, float]:
    run = Run(redis_url, workers, Scripted(text=QUICK))
    try:
        events = [mention(f"ack {n}") for n in range(count)]
        times = send_all(run.bot.url, events)
        durations = [acked - sent for sent, acked in times.values()]
        span = max(a for _, a in times.values()) - min(s for s, _ in times.values())
        run.wait_answers({e["ts"] for e in events}, 120)  # let the work behind them finish before the next run
        return {"acks_per_second": count / span, "ack_p50_ms": percentile(durations, 50) * 1000,
                "ack_p99_ms": percentile(durations, 99) * 1000}
    finally:
        run.close()


def answers(redis_url: str, workers: int, count: int) -> dict[str, float]:
    run = Run(redis_url, workers, Scripted(text=QUICK))
    try:
        events = [mention(f"answer {n}") for n in range(count)]
        times = send_all(run.bot.url, events)
        threads = {e["ts"] for e in events}
        last = run.wait_answers(threads, 300)
        first = min(s for s, _ in times.values())
        return {"answers_per_second": run.answered(threads) / (last - first), "answered": run.answered(threads)}
    finally:
        run.close()


def streams(redis_url: str, workers: int, count: int) -> dict[str, float]:
    run = Run(redis_url, workers, Scripted(text=STREAMED, chunk_chars=len(STREAMED) // 20 + 1, delay=0.1))
    try:
        events = [mention(f"stream {n}") for n in range(count)]
        times = send_all(run.bot.url, events)
        threads = {e["ts"] for e in events}
        last = run.wait_answers(threads, 300)
        durations = [acked - sent for sent, acked in times.values()]
        return {"answered": run.answered(threads), "ack_p99_ms": percentile(durations, 99) * 1000,
                "seconds_to_last_answer": last - min(s for s, _ in times.values())}
    finally:
        run.close()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--send":
        bodies = json.loads(Path(sys.argv[3]).read_text())
        print(json.dumps(asyncio.run(_send(sys.argv[2], bodies))))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--acks", type=int, default=1000)
    parser.add_argument("--answers", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the script")
    parser.add_argument("--no-cluster", action="store_true", help="the single Redis only")
    args = parser.parse_args()
    if args.quick:
        args.acks, args.answers, args.streams = 100, 100, 100
    single = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    stores = [("single Redis", single, None)]
    cluster = None
    if not args.no_cluster:
        cluster = start_cluster()
        stores.append(("3-primary cluster", f"redis://127.0.0.1:{cluster[1][0]}/0", cluster))
    rows: list[tuple[str, str, str]] = []
    try:
        for label, url, _ in stores:
            for workers in (1, 2):
                a = acks(url, workers, args.acks)
                rows.append((label, f"{workers} worker{'s' if workers > 1 else ''}",
                             f"acks {a['acks_per_second']:7,.0f}/s  ack p50 {a['ack_p50_ms']:6.1f} ms  "
                             f"p99 {a['ack_p99_ms']:7.1f} ms"))
                b = answers(url, workers, args.answers)
                rows.append((label, f"{workers} worker{'s' if workers > 1 else ''}",
                             f"answers {b['answers_per_second']:6,.0f}/s ({b['answered']:.0f}/{args.answers} answered, "
                             "fast model)"))
                print(*rows[-2], sep="  ", flush=True)
                print(*rows[-1], sep="  ", flush=True)
            c = streams(url, 2, args.streams)
            rows.append((label, "2 workers", f"{args.streams} streamed at once: {c['answered']:.0f} answered, "
                                              f"ack p99 {c['ack_p99_ms']:.1f} ms, last answer after "
                                              f"{c['seconds_to_last_answer']:.1f} s"))
            print(*rows[-1], sep="  ", flush=True)
    finally:
        if cluster is not None:
            cluster[0].stop()
    print("\nSummary (one run, this machine):")
    for row in rows:
        print(f"  {row[0]:18} {row[1]:9}  {row[2]}")


if __name__ == "__main__":
    main()
