"""Benchmarks for tools and files.

Run:  .venv/bin/python -m bench.bench_tools [--rounds 200] [--pages 100]

1. The bot's own overhead per tool round: from the moment a tool's result is back in
   the bot to the moment the next model request reaches the (fake, local) model server.
   It covers turning the result into a stored turn (token count, shortening), building
   the next request and sending it.  The answer runs through the real ``generate`` loop
   and ``ModelClient`` against the fake OpenAI server, with a 50-turn history.
2. MCP ``tools/list`` calls per answer after warm-up, against the SDK's own server over
   streamable HTTP: answers that call a tool must list nothing.
3. Text extraction from a 100-page PDF: the bot's ``pdf_text`` beside a bare pypdf loop
   over the same file (the bot adds page marks and checks; pypdf does the work).

Targets: tool round overhead p50 <= 5 ms; 0 list calls per answer after warm-up.
The machine is shared and noisy: read the figures of one run together.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.files.extract import pdf_text  # noqa: E402
from bot.llm.generation import generate  # noqa: E402
from bot.llm.model import ModelClient, ModelOptions, build_openai_client  # noqa: E402
from bot.memory.conversation import StoredMessage  # noqa: E402
from bot.tokens import TokenCounter  # noqa: E402
from bot.memory.trimming import build_request  # noqa: E402
from bot.tools.base import ToolContext, ToolOutcome, ToolSpec  # noqa: E402
from bot.tools.mcp_config import ServerConfig  # noqa: E402
from bot.tools.mcp_servers import McpServer  # noqa: E402
from bot.tools.rounds import ToolLimits, ToolRounds  # noqa: E402
from bot.tools.toolbox import Toolbox  # noqa: E402
from tests.fakes import documents  # noqa: E402
from tests.fakes.mcp_tools import McpHttpServer  # noqa: E402
from tests.fakes.openai_api import FakeModel, Scripted  # noqa: E402

CONTEXT = ToolContext("T1", "C1", "U1", "1.0")
RESULT = "Order A-1: shipped on 2026-11-20 by courier; tracking 1Z999AA10123456784. " * 20  # ~400 tokens


class InstantTool:
    """A provider whose tool answers at once and notes when its result was handed back."""

    spec = ToolSpec("lookup", "Look up an order.", {"type": "object", "properties": {"id": {"type": "string"}}})

    def __init__(self) -> None:
        self.returned: list[float] = []

    def tools(self) -> list[ToolSpec]:
        return [self.spec]

    async def call(self, spec: ToolSpec, arguments: dict[str, Any], context: ToolContext) -> ToolOutcome:
        self.returned.append(time.monotonic())
        return ToolOutcome(RESULT)


class NoBoard:
    async def progress(self, text: str) -> None:
        pass


async def tool_round_overhead(rounds: int) -> list[float]:
    model = FakeModel(strict_templates=False).start()
    counter = TokenCounter.for_model("gpt-4o-mini", Path(tempfile.gettempdir()) / "slack-assistant-test-tiktoken")
    client = ModelClient(build_openai_client(api_key="sk-bench", base_url=model.base_url, max_retries=0, timeout=30),
                         model="gpt-4o-mini", max_output_tokens=256, temperature=0.3, total_timeout=30, idle_timeout=30)
    history = [StoredMessage("user" if n % 2 == 0 else "assistant", f"turn {n}: " + "some earlier words " * 30,
                             counter.count_message("x"), ts=str(n)) for n in range(50)]
    history.append(StoredMessage("user", "where is order A-1?", 10))
    request = build_request("You are a helpful assistant.", history, "Today is Sunday.")
    tool = InstantTool()
    overheads: list[float] = []
    try:
        for _ in range(5 + rounds):  # the first five warm the connection and the tokenizer
            model.enqueue(Scripted(tool_calls=[("lookup", '{"id": "A-1"}')]), Scripted(text="It shipped."))
            before = len(model.requests)
            rounds_ = ToolRounds(Toolbox([tool]), [tool.spec], CONTEXT, limits=ToolLimits(), counter=counter)
            await generate(client, request, NoBoard(), ModelOptions(), tools=rounds_)  # type: ignore[arg-type]
            second = model.requests[before + 1]
            overheads.append((second.started - tool.returned[-1]) * 1000)
    finally:
        await client.close()
        model.stop()
    return overheads[5:]


async def list_calls_per_answer(answers: int) -> tuple[int, int]:
    server = McpHttpServer("orders").start()
    mcp = McpServer(ServerConfig("orders", url=server.url))
    mcp.start()
    try:
        await mcp.first_attempt(20)
        warm = mcp.list_calls
        spec = next(s for s in mcp.tools() if s.original == "lookup_order")
        toolbox = Toolbox([mcp])
        counter = TokenCounter.for_model("gpt-4o-mini", Path(tempfile.gettempdir()) / "slack-assistant-test-tiktoken")
        for _ in range(answers):
            rounds = ToolRounds(toolbox, toolbox.select(["orders:*"]), CONTEXT, limits=ToolLimits(), counter=counter)
            from bot.llm.calls import ToolCall

            await rounds.run("", [ToolCall("c1", spec.name, '{"order_id": "A-1"}')])
        return warm, mcp.list_calls - warm
    finally:
        await mcp.close()
        server.stop()


def pdf_times(pages: int, repeats: int = 3) -> tuple[float, float, int]:
    from pypdf import PdfReader

    data = documents.pdf([f"Page {n}\n" + "\n".join(f"Line {k} of page {n}: quarterly figures and notes." for k in range(40))
                          for n in range(pages)])
    ours, theirs = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        text = pdf_text(data)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        for page in PdfReader(io.BytesIO(data)).pages:
            page.extract_text()
        theirs.append(time.perf_counter() - start)
    return min(ours) * 1000, min(theirs) * 1000, len(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--answers", type=int, default=50)
    parser.add_argument("--pages", type=int, default=100)
    args = parser.parse_args()

    overheads = asyncio.run(tool_round_overhead(args.rounds))
    q = statistics.quantiles(overheads, n=100)
    print(f"tool round overhead (result back -> next model request received), {len(overheads)} rounds: "
          f"p50 {statistics.median(overheads):.2f} ms, p90 {q[89]:.2f} ms, p99 {q[98]:.2f} ms (target p50 <= 5 ms)")
    warm, after = asyncio.run(list_calls_per_answer(args.answers))
    print(f"MCP tools/list calls: {warm} at start-up, {after} over {args.answers} tool-using answers "
          f"({after / args.answers:.2f} per answer; target 0)")
    ours, theirs, chars = pdf_times(args.pages)
    print(f"{args.pages}-page PDF to text: bot {ours:.0f} ms, bare pypdf {theirs:.0f} ms "
          f"({ours / theirs:.2f}x; {chars:,} characters)")


if __name__ == "__main__":
    main()
