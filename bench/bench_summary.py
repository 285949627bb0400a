"""Benchmark: memory past the window and prompt caching.

Run:  .venv/bin/python -m bench.bench_summary [--turns 300]   (Redis at BENCH_REDIS_URL,
                                                                default redis://127.0.0.1:6379/0)

bench_load's prompt-caching thread (MAX_CONTEXT_TOKENS=4000, one speaker), run by today's bot
as its own process with the running summary on (SUMMARY_MAX_TOKENS=400) and off (0): the share
of input tokens a provider caching prefixes (>= 1,024 tokens, 128-token steps, OpenAI's rule)
would serve from its cache.  The answers' requests form the chain of prefixes; each summary
request is counted whole as uncached input (it is a different prefix, once per trim).  Target:
the cached share stays >= 75% with summaries on.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_load import (  # noqa: E402
    TIKTOKEN_DIR, Bot, Variant, bot_env, cached_share, fakes, planning_thread, shut_down)
from bot.tokens import load_encoding  # noqa: E402
from tests.harness import SlackSender  # noqa: E402

SUMMARY_MARK = "You keep the running summary"


def run(redis_url: str, turns: int, summary_tokens: int) -> tuple[float, int, int]:
    """(cached share of all input tokens, summary requests, requests over the budget)."""
    slack, model = fakes()
    model.answer = lambda request: ("- the plan: budget and hiring, numbers from last year" if
                                    request.messages[0]["content"].startswith(SUMMARY_MARK)
                                    else "Here is a short answer with a few details " * 3)
    prefix = f"bench-summary-{uuid.uuid4().hex[:8]}"
    budget = 4000
    bot = Bot(Variant("today", ROOT), bot_env(slack, model, redis_url, prefix, MAX_CONTEXT_TOKENS=str(budget),
                                              SUMMARY_MAX_TOKENS=str(summary_tokens)))
    sender = SlackSender(bot.url)
    try:
        planning_thread(sender, slack, turns)
        encoding = load_encoding("o200k_base", Path(TIKTOKEN_DIR))

        def encode(text: str) -> list[int]:
            return encoding.encode(text, disallowed_special=())

        summaries = [r.messages for r in model.requests if r.messages[0]["content"].startswith(SUMMARY_MARK)]
        answers = [r.messages for r in model.requests if not r.messages[0]["content"].startswith(SUMMARY_MARK)]
        share, over = cached_share(answers, encode, budget)
        answer_tokens = sum(len(encode("".join(str(m.get("content") or "") for m in request))) for request in answers)
        summary_tokens_in = sum(len(encode("".join(str(m["content"]) for m in request))) for request in summaries)
        return share * answer_tokens / max(1, answer_tokens + summary_tokens_in), len(summaries), over
    finally:
        shut_down(bot, slack, model, redis_url, prefix, sender)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    args = parser.parse_args()
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    for tokens in (400, 0):
        share, summaries, over = run(redis_url, args.turns, tokens)
        print(f"SUMMARY_MAX_TOKENS={tokens:<4} {args.turns}-turn thread: {100 * share:.1f}% of input tokens cached, "
              f"{summaries} summary requests, {over} requests over MAX_CONTEXT_TOKENS")


if __name__ == "__main__":
    main()
