"""Benchmark: hostile files and acknowledged bursts, today's code beside an earlier revision's.

Run:  .venv/bin/python -m bench.bench_safety              (Redis at BENCH_REDIS_URL,
      .venv/bin/python -m bench.bench_safety --quick      default redis://127.0.0.1:6379/0)

Each variant is a real bot process (``python -m bot serve``) against the fake Slack and
model of tests/fakes, run one after the other in one run (bench/bench_load.py's helpers).

1. File bombs: a 20 KiB 169-megapixel palette PNG, and a 130 KiB Word file of a million
   paragraphs (the baseline's only with --baseline-docx: it took minutes), each shared
   with one mention: seconds to the answer, and the bot process's peak RSS growth
   (VmHWM; today the file is read in a file worker, a separate process).  Today's code
   only: ten bombs at once, and how long a plain question sent just after them waits.
2. Acked burst: 500 mentions spread evenly over one second, each on its own connection,
   answers streamed over 2 seconds (as bench_load's bursts):
   ack p50/p99 (today each message event is written to Redis before its 200), sent from a
   separate process over connections opened beforehand.
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

from bench.bench_load import ANSWER, ROOT, Bot, Variant, bot_env, fakes, percentile, post_signed, shut_down, unpack
from tests.fakes import documents
from tests.fakes.openai_api import Scripted
from tests.harness import SlackSender, mention

BASELINE = "539d3b2"  # the commit before issue 18's work


def peak_rss_mb(bot: Bot) -> float:
    for line in Path(f"/proc/{bot.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def share_one(bot: Bot, slack, name: str, data: bytes, filetype: str, channel: str = "C100") -> float:
    """Seconds from sending the mention to its answer."""
    before = len(slack.posts(channel))
    sender = SlackSender(bot.url)
    try:
        file = slack.share_file(uuid.uuid4().hex[:8], name, data, filetype=filetype)
        started = time.monotonic()
        sender.send_event({**mention(f"read {name}", channel=channel), "files": [file]})
        slack.wait_for(lambda s: len([m for m in s.posts(channel) if m.text.startswith("Answer")]) > before,
                       timeout=600)
        return time.monotonic() - started
    finally:
        sender.close()


def file_bombs(variant: Variant, redis_url: str, with_docx: bool) -> dict[str, object]:
    slack, model = fakes()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    bot = Bot(variant, bot_env(slack, model, redis_url, prefix, PRICES_FILE=str(ROOT / "prices.yaml")))
    figures: dict[str, object] = {}
    try:
        share_one(bot, slack, "warm.txt", b"warm up", "text")
        for name, data, filetype in [("bomb.png", documents.png_bomb(), "png"),
                                     *([("bomb.docx", documents.docx_bomb(), "docx")] if with_docx else [])]:
            before = peak_rss_mb(bot)
            seconds = share_one(bot, slack, name, data, filetype)
            figures[name] = {"seconds": round(seconds, 2), "peak_rss_growth_mb": round(peak_rss_mb(bot) - before, 1)}
    finally:
        shut_down(bot, slack, model, redis_url, prefix)
    return figures


def ten_bombs(variant: Variant, redis_url: str) -> dict[str, float]:
    slack, model = fakes()
    slack.channels.update({"C200": "bombs", "C300": "plain"})
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    bot = Bot(variant, bot_env(slack, model, redis_url, prefix, PRICES_FILE=str(ROOT / "prices.yaml")))
    sender = SlackSender(bot.url)
    try:
        before = peak_rss_mb(bot)
        started = time.monotonic()
        for n in range(10):
            bomb = slack.share_file(f"B{n}", f"bomb{n}.png", documents.png_bomb(), filetype="png")
            sender.send_event({**mention(f"bomb {n}", channel="C200"), "files": [bomb]})
        asked = time.monotonic()
        sender.send_event(mention("a plain question", channel="C300"))
        slack.wait_for(lambda s: [m for m in s.posts("C300") if m.text.startswith("Answer")], timeout=120)
        plain = time.monotonic() - asked
        slack.wait_for(lambda s: len([m for m in s.posts("C200") if m.text.startswith("Answer")]) == 10, timeout=300)
        return {"plain_answer_seconds": round(plain, 2), "all_bombs_answered_seconds": round(time.monotonic() - started, 2),
                "peak_rss_growth_mb": round(peak_rss_mb(bot) - before, 1)}
    finally:
        shut_down(bot, slack, model, redis_url, prefix, sender)


async def _paced(url: str, bodies: list[bytes], spread_seconds: float) -> list[float]:
    """Open one connection per body first, then send them evenly over ``spread_seconds``; ack times."""
    host, port = url.removeprefix("http://").split(":")
    signer = SlackSender(url)
    connections = [await asyncio.open_connection(host, int(port)) for _ in bodies]
    gap = spread_seconds / max(1, len(bodies))
    start = time.monotonic() + 0.1
    acks: list[float] = []

    async def one(n: int, body: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(max(0.0, start + n * gap - time.monotonic()))
        sent, acked = await post_signed(signer, body, reader, writer)
        acks.append(acked - sent)
        writer.close()

    await asyncio.gather(*(one(n, body, r, w) for n, (body, (r, w)) in enumerate(zip(bodies, connections))))
    signer.close()
    return acks


def send_paced(url: str, bodies: list[bytes], spread_seconds: float) -> list[float]:
    """From a separate process (this one runs the fakes, whose threads would slow a sender down)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump([body.decode() for body in bodies], f)
    result = subprocess.run([sys.executable, "-m", "bench.bench_safety", "--send", url, f.name, str(spread_seconds)],
                            cwd=ROOT, capture_output=True, text=True, check=True)
    os.unlink(f.name)
    return json.loads(result.stdout)


def acked_burst(variant: Variant, redis_url: str, size: int, workers: int = 1) -> dict[str, float]:
    slack, model = fakes()
    model.default = Scripted(text=ANSWER, chunk_chars=len(ANSWER) // 40 + 1, delay=0.05)  # 2-second answers, as bench_load
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    bot = Bot(variant, bot_env(slack, model, redis_url, prefix, PRICES_FILE=str(ROOT / "prices.yaml"),
                               WEB_CONCURRENCY=str(workers)))
    try:
        sender = SlackSender(bot.url)
        bodies = [json.dumps(sender.envelope(mention(f"burst {n}", channel="C100"))).encode() for n in range(size)]
        sender.close()
        acks = send_paced(bot.url, bodies, 1.0)
        slack.wait_for(lambda s: len(s.posts("C100")) >= size, timeout=120)
        return {"ack_p50_ms": round(percentile(acks, 50) * 1000, 1), "ack_p99_ms": round(percentile(acks, 99) * 1000, 1)}
    finally:
        shut_down(bot, slack, model, redis_url, prefix)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--send":
        bodies = [body.encode() for body in json.loads(Path(sys.argv[3]).read_text())]
        print(json.dumps(asyncio.run(_paced(sys.argv[2], bodies, float(sys.argv[4])))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--quick", action="store_true", help="a 100-event burst, no ten-bomb run")
    parser.add_argument("--skip-files", action="store_true", help="only the acked burst")
    parser.add_argument("--baseline-docx", action="store_true", help="also the Word bomb on the baseline (minutes)")
    args = parser.parse_args()
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    today, baseline = Variant("today", ROOT), Variant(args.baseline, unpack(args.baseline))
    report: dict[str, object] = {}
    for variant in (baseline, today):
        if args.skip_files:
            break
        report[f"files {variant.name}"] = file_bombs(variant, redis_url, variant is today or args.baseline_docx)
        print(variant.name, "files:", report[f"files {variant.name}"], flush=True)
    if not args.quick and not args.skip_files:
        report["ten bombs today"] = ten_bombs(today, redis_url)
        print("today, ten bombs at once:", report["ten bombs today"], flush=True)
    size = 100 if args.quick else 500
    for variant in (baseline, today):
        report[f"burst {variant.name}"] = acked_burst(variant, redis_url, size)
        print(variant.name, f"acks, {size} events over 1 s:", report[f"burst {variant.name}"], flush=True)
    report["burst today, 2 workers"] = acked_burst(today, redis_url, size, workers=2)
    print(f"today, 2 workers, acks, {size} events over 1 s:", report["burst today, 2 workers"], flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
