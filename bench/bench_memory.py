"""Benchmark: Redis memory per stored conversation.

Run:  .venv/bin/python -m bench.bench_memory [--conversations 50] [--turns 20]

Starts the real app (in this process, over real HTTP) against the fake Slack and
model, plays ``--conversations`` channel threads of ``--turns`` turns (a mention,
then follow-ups, each answered), then reads every key the bot keeps with
``MEMORY USAGE`` and reports, per conversation: the message text (UTF-8 bytes of
the questions and answers as the model sees them), the Redis memory it takes,
and the overhead beyond the text, split by kind of key.

Target: <= 2 KB (2,048 bytes) of overhead beyond the text for a 20-turn thread, for a
conversation at rest (its keys that live as long as it: turns, state, latest answer, its
place in the channel index).  Keys that lapse on their own are reported apart: message
claims (an hour), queue and lease (while answering), and the per-workspace and per-user
rate budgets, flood counts, usage totals and names, shared by every conversation.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.memory.conversation import ConversationId  # noqa: E402
from tests.fakes.openai_api import FakeModel  # noqa: E402
from tests.fakes.slack_api import TEAM_ID, FakeSlack  # noqa: E402
from tests.harness import AppInstance, SlackSender, delete_prefix, make_settings, mention, message, sync_client  # noqa: E402

QUESTION = "Could you tell me how our deployment pipeline decides which region gets a release first? "
ANSWER = ("The pipeline releases to the canary region first, waits for its error budget check to pass, "
          "then promotes to the remaining regions in order of traffic, smallest first. ") * 3


AT_REST = {"conv:messages", "conv:meta", "conv:answer", "channel-conversations"}


def kind_of(key: str, prefix: str) -> str:
    rest = key.removeprefix(prefix + ":v1:")
    if rest.startswith("conv:"):
        return "conv:" + rest.rsplit("}:", 1)[-1]
    return re.split(r"[:{]", rest, maxsplit=1)[0] or rest.split("}", 1)[0] + "}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--turns", type=int, default=20, help="turns per thread (questions and answers together)")
    args = parser.parse_args()
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    slack, model = FakeSlack().start(), FakeModel(answer=lambda request: ANSWER).start()
    slack.users.update({"U1": "alice"})
    slack.channels.update({"C100": "general"})
    slack.rate_limits.clear()  # Slack's per-minute limits would only make the run long
    app = AppInstance(make_settings(SLACK_API_URL=slack.base_url, OPENAI_BASE_URL=model.base_url, REDIS_URL=redis_url,
                                    REDIS_KEY_PREFIX=prefix, STREAM_UPDATE_INTERVAL_SECONDS=1.0,
                                    SLACK_UPDATES_PER_MINUTE=100_000,
                                    TIKTOKEN_CACHE_DIR=str(Path.home() / ".cache" / "slack-assistant" / "tiktoken"))).start()
    sender = SlackSender(app.url)
    try:
        questions = args.turns // 2
        roots = [mention(QUESTION) for _ in range(args.conversations)]
        for root in roots:
            sender.send_event(root)
        slack.wait_for_answers(len(roots), timeout=120)
        for turn in range(1, questions):
            for root in roots:
                sender.send_event(message(f"{QUESTION}({turn})", thread_ts=root["ts"]))
            slack.wait_for_answers(len(roots) * (turn + 1), timeout=120)
        cids = [ConversationId(TEAM_ID, "C100", root["ts"]) for root in roots]
        for cid in cids:
            app.wait_stored(cid, args.turns, timeout=60)
        text = sum(len(turn.content.encode()) for cid in cids for turn in app.stored(cid))
        client = sync_client(redis_url)
        by_kind: dict[str, int] = defaultdict(int)
        counts: dict[str, int] = defaultdict(int)
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            name = key.decode()
            kind = kind_of(name, prefix)
            by_kind[kind] += int(client.memory_usage(name, samples=0) or 0)
            counts[kind] += 1
        client.close()
        total = sum(by_kind.values())
        at_rest = sum(size for kind, size in by_kind.items() if kind in AT_REST)
        n = len(cids)
        print(f"{n} threads of {args.turns} turns ({questions} questions, {questions} answers), Redis at {redis_url}")
        print(f"  message text                 {text / n:8,.0f} bytes per conversation")
        print(f"  Redis memory at rest         {at_rest / n:8,.0f} bytes per conversation")
        print(f"  overhead at rest             {(at_rest - text) / n:8,.0f} bytes per conversation (target <= 2,048)")
        print(f"  overhead in its first hour   {(at_rest + by_kind.get('conv:claims', 0) - text) / n:8,.0f} bytes "
              "per conversation (with its message claims)")
        print(f"  everything under the prefix  {total / n:8,.0f} bytes per conversation (shared budgets included)")
        print("  by kind of key (bytes per conversation, keys per conversation):")
        for kind, size in sorted(by_kind.items(), key=lambda item: -item[1]):
            print(f"    {kind:24} {size / n:8,.0f}   {counts[kind] / n:5.2f}")
    finally:
        sender.close()
        app.stop()
        slack.stop()
        model.stop()
        delete_prefix(redis_url, prefix)


if __name__ == "__main__":
    main()
