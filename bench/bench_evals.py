"""Benchmark: the eval runner's throughput against the fake model.

Run:  .venv/bin/python -m bench.bench_evals [--samples 200] [--concurrency 4]

Runs one plain-chat case ``--samples`` times through ``EvalRunner`` (the real prompts,
budget and model client) against the fake OpenAI server, which streams each answer over
about ``--answer-ms``, and reports samples per second at the given concurrency beside
concurrency 1: the runner's own overhead shows as the gap to the ideal speed-up.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.evals.cases import EvalFile, LoadedFile  # noqa: E402
from bot.evals.runner import EvalRunner, Variant  # noqa: E402
from bot.llm.model import ModelClient, build_openai_client  # noqa: E402
from bot.tokens import TokenCounter  # noqa: E402
from bot.pricing import load_prices  # noqa: E402
from bot.prompts import load_catalog  # noqa: E402
from tests.fakes.openai_api import FakeModel, Scripted  # noqa: E402

CASES = {"cases": [{"name": "chat keeps context",
                    "messages": [{"role": "user", "content": "My name is Ada."},
                                 {"role": "assistant", "content": "Nice to meet you, Ada."},
                                 {"role": "user", "content": "What is my name?"}],
                    "expect": [{"regex": "(?i)\\bada\\b"}, {"max_tokens": 40}]}]}


async def throughput(model: FakeModel, samples: int, concurrency: int) -> float:
    client = ModelClient(build_openai_client(api_key="sk-bench", base_url=model.base_url, max_retries=0, timeout=30),
                         model="gpt-4o-mini", max_output_tokens=256, temperature=0.3, total_timeout=30, idle_timeout=30)
    runner = EvalRunner(model=client, counter=TokenCounter.for_model("gpt-4o-mini", Path(tempfile.gettempdir()) / "slack-assistant-test-tiktoken"),
                        prices=load_prices(ROOT / "prices.yaml"), bot_name="Assistant", max_context_tokens=16000,
                        trim_target_ratio=0.7, concurrency=concurrency)
    files = [LoadedFile(path=Path("bench.yaml"), spec=EvalFile.model_validate({**CASES, "repeat": samples}))]
    variants = [Variant(None, load_catalog(ROOT / "prompts"), "prompts", "gpt-4o-mini")]
    try:
        started = time.perf_counter()
        results = await runner.run(files, variants)
        elapsed = time.perf_counter() - started
    finally:
        await client.close()
    assert all(r.met for r in results), "every sample should pass"
    return samples / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--answer-ms", type=float, default=100.0)
    args = parser.parse_args()
    model = FakeModel(answer=lambda request: "Your name is Ada, as you told me.").start()
    chunks = 8
    model.default = Scripted(chunk_chars=5, delay=args.answer_ms / 1000 / chunks)
    try:
        one = asyncio.run(throughput(model, max(20, args.samples // args.concurrency), 1))
        many = asyncio.run(throughput(model, args.samples, args.concurrency))
    finally:
        model.stop()
    print(f"eval runner, answers streamed over ~{args.answer_ms:.0f} ms: {one:.1f} samples/s at concurrency 1, "
          f"{many:.1f} samples/s at concurrency {args.concurrency} ({many / one:.2f}x; ideal {args.concurrency}x)")


if __name__ == "__main__":
    main()
