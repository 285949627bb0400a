"""Benchmark: Slack calls per answer, and the time from the model's first token
to the first visible text, with 1, 10 and 30 answers streaming at once in one
workspace.

Run:  .venv/bin/python -m bench.bench_streaming    (Redis at BENCH_REDIS_URL,
                                                    default redis://127.0.0.1:6379/0)

Each round starts a fresh bot process (``python -m bot serve``) with the
production defaults (50 chat.update calls a minute per workspace, Slack's
tiers for the streaming methods) against a fake Slack that enforces those
tiers with 429s, and a fake model that streams a 600-character answer in
20-character pieces, 50 ms apart (about 1.5 s per answer).  Two surfaces:

- channel threads (a mention; the answer is posted, then updated),
- assistant / DM threads (Slack's chat.startStream / appendStream / stopStream).

Times are measured in this process, where both fakes run, on one clock.

``--burst N`` (500 by default with ``--burst``) instead sends N mentions in one workspace
within one second, far past what chat.update's 50 calls a minute can finish, and counts the
bot's messages once every answer is complete: the target is exactly N, none deleted, no
partial left with a live Stop button.

Run:  .venv/bin/python -m bench.bench_streaming --burst
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_bot import percentile, shut_down, start_bot  # noqa: E402
from tests.fakes.openai_api import FakeModel, Scripted  # noqa: E402
from tests.fakes.slack_api import FakeSlack, shown_text  # noqa: E402  (it enforces Slack's tiers)
from tests.harness import SIGNING_SECRET, SlackSender, mention, message  # noqa: E402

ANSWER = ("Streaming answers within Slack's limits. " * 15)[:600]
COUNTED = ("chat.postMessage", "chat.update", "chat.delete", "chat.startStream", "chat.appendStream", "chat.stopStream",
           "assistant.threads.setStatus")
VISIBLE = ("chat.postMessage", "chat.update", "chat.startStream", "chat.appendStream")


def run_round(surface: str, concurrency: int, redis_url: str) -> dict[str, object]:
    slack, model = FakeSlack().start(), FakeModel(strict_templates=False).start()
    slack.users.update({"U1": "alice"})
    model.default = Scripted(text=ANSWER, chunk_chars=20, delay=0.05)
    prefix = f"bench-stream-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SIGNING_SECRET, "OPENAI_API_KEY": "sk-bench",
        "SLACK_API_URL": slack.base_url, "OPENAI_BASE_URL": model.base_url, "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix, "LOG_LEVEL": "WARNING", "USER_MESSAGES_PER_MINUTE": "10000",
        "TIKTOKEN_CACHE_DIR": os.path.join(tempfile.gettempdir(), "slack-assistant-bench-tiktoken"),
    }
    process, url = start_bot(env)
    sender = SlackSender(url)
    channels = [f"{'C' if surface == 'channel' else 'D'}{n:03d}" for n in range(concurrency)]
    try:
        threads = [f"{1_700_000_000 + n}.000100" for n in range(concurrency)]
        events = [
            mention(f"question {n}", channel=ch) if surface == "channel"
            else message(f"question {n}", channel=ch, channel_type="im", thread_ts=threads[n])
            for n, ch in enumerate(channels)
        ]
        if surface == "assistant":  # each user opens an assistant thread first (greeting and suggestions)
            for ch, ts in zip(channels, threads):
                sender.send_event({"type": "assistant_thread_started", "event_ts": ts, "assistant_thread": {
                    "user_id": "U1", "context": {}, "channel_id": ch, "thread_ts": ts}})
            slack.wait_for(lambda s: all(s.posts(ch) for ch in channels), timeout=60)
            time.sleep(0.5)
            with slack._condition:
                slack.calls.clear()
                slack.messages.clear()
        started = time.monotonic()
        senders = [threading.Thread(target=sender.send_event, args=(event,)) for event in events]
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        slack.wait_for(lambda s: all(any(m.text == ANSWER and not m.streaming for m in s.posts(ch)) for ch in channels),
                       timeout=300)
        elapsed = time.monotonic() - started
        time.sleep(1.0)  # late clean-up calls (placeholder deletions) are counted too
    finally:
        shut_down(sender, process, slack, model, redis_url, prefix)

    calls = Counter(c.method for c in slack.calls if c.method in COUNTED)
    first_visible: list[float] = []
    for request in model.requests:
        n = int(request.last_user_text.rsplit(" ", 1)[-1])
        channel = channels[n]
        shown = [c.at for c in slack.calls if c.method in VISIBLE and c.params.get("channel") == channel
                 and shown_text(c.params) and not shown_text(c.params).startswith("_Thinking")]
        if request.first_token is not None and shown:
            first_visible.append(max(0.0, min(shown) - request.first_token))
    return {
        "calls": calls,
        "per_answer": sum(calls.values()) / concurrency,
        "first_visible_p50": statistics.median(first_visible),
        "first_visible_p90": percentile(first_visible, 90),
        "elapsed": elapsed,
        "rate_limited": dict(slack.rate_limited),
    }


def bot_env(slack: FakeSlack, model: FakeModel, redis_url: str, prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SIGNING_SECRET, "OPENAI_API_KEY": "sk-bench",
        "SLACK_API_URL": slack.base_url, "OPENAI_BASE_URL": model.base_url, "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix, "LOG_LEVEL": "WARNING", "USER_MESSAGES_PER_MINUTE": "10000",
        "TIKTOKEN_CACHE_DIR": os.path.join(tempfile.gettempdir(), "slack-assistant-bench-tiktoken"),
    }


def run_burst(count: int, redis_url: str) -> dict[str, object]:
    """``count`` mentions in ``count`` channels of one workspace within one second."""
    slack, model = FakeSlack().start(), FakeModel(strict_templates=False).start()
    slack.users.update({"U1": "alice"})
    model.default = Scripted(text=ANSWER, chunk_chars=20, delay=0.05)
    prefix = f"bench-burst-{uuid.uuid4().hex[:8]}"
    process, url = start_bot(bot_env(slack, model, redis_url, prefix))
    sender = SlackSender(url)
    channels = [f"C{n:04d}" for n in range(count)]
    try:
        started = time.monotonic()
        pace = 1.0 / count
        for n, channel in enumerate(channels):  # spread over one second, each sent without waiting for the last
            threading.Thread(target=sender.send_event, args=(mention(f"question {n}", channel=channel),)).start()
            time.sleep(max(0.0, started + (n + 1) * pace - time.monotonic()))
        slack.wait_for(lambda s: sum(1 for m in s.messages.values() if m.text == ANSWER) >= count, timeout=600)
        elapsed = time.monotonic() - started
        time.sleep(5.0)  # late clean-up calls (placeholder deletions) are counted too
    finally:
        shut_down(sender, process, slack, model, redis_url, prefix)
    with slack._condition:
        messages = list(slack.messages.values())
        deleted = list(slack.deleted)
    return {
        "messages": len(messages),
        "complete": sum(1 for m in messages if m.text == ANSWER),
        "partials": sum(1 for m in messages if m.text != ANSWER),
        "deleted": len(deleted),
        "updates": sum(1 for c in slack.calls if c.method == "chat.update"),
        "elapsed": elapsed,
        "rate_limited": dict(slack.rate_limited),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 30])
    parser.add_argument("--burst", type=int, nargs="?", const=500, default=None,
                        help="a one-second burst of this many mentions in one workspace (default 500)")
    args = parser.parse_args()
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    print(f"machine: {os.cpu_count()} cores; redis {redis_url}; answer {len(ANSWER)} characters over ~1.5 s")
    if args.burst:
        r = run_burst(args.burst, redis_url)
        print(f"burst of {args.burst} mentions in one workspace within 1 s: all complete in {r['elapsed']:.1f} s")
        print(f"  bot messages at the end {r['messages']} (complete {r['complete']}, partial {r['partials']}), "
              f"deleted {r['deleted']}, chat.update calls {r['updates']}, 429s {sum(r['rate_limited'].values())}")  # type: ignore[union-attr]
        return
    for surface in ("channel", "assistant"):
        title = "channel threads (post + chat.update)" if surface == "channel" else "assistant/DM threads (Slack streaming methods)"
        print(f"\n{title}")
        print("  answers  Slack calls/answer  first token -> first visible text (p50 / p90)  all done  429s  calls")
        for concurrency in args.concurrency:
            r = run_round(surface, concurrency, redis_url)
            calls = ", ".join(f"{k.split('.', 1)[1]} {v}" for k, v in sorted(r["calls"].items()))  # type: ignore[union-attr]
            print(f"  {concurrency:>7}  {r['per_answer']:>18.1f}  {r['first_visible_p50'] * 1000:>13.0f} ms / "
                  f"{r['first_visible_p90'] * 1000:.0f} ms{'':>18}  {r['elapsed']:>6.1f} s  "
                  f"{sum(r['rate_limited'].values()):>4}  {calls}")


if __name__ == "__main__":
    main()
