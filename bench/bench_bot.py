"""Benchmarks: ack latency, and the bot's own overhead per reply as threads grow.

Run:  .venv/bin/python -m bench.bench_bot            (uses Redis at BENCH_REDIS_URL,
                                                      default redis://127.0.0.1:6379/0)

It starts the real app as its own process (``python -m bot serve``, as in
production) against the fake Slack and model servers from tests/fakes, which
run in this process, and reports:

1. Ack latency (p50/p99) for signed mentions at concurrency 1, measured by the
   sender from request to the HTTP 200; each answer finishes before the next
   mention is sent.
2. Overhead from sending an event to the model receiving its request, for
   threads of 10, 1,000 and 5,000 stored messages.  The threads are built turn
   by turn through the bot's own store and trimming, as a real thread grows.
3. The baseline a naive bot pays on top: re-tokenising the whole thread each
   turn to trim it (measured on the same messages with the same encoding).

Targets: ack p99 <= 2 ms; overhead at 5,000 messages <= 1.5x overhead at 10.
The machine is shared and noisy: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bot.delivery.queue import Commit, ConversationQueue  # noqa: E402
from bot.memory.batch import Batch  # noqa: E402
from bot.memory.conversation import ConversationId, StoredMessage  # noqa: E402
from bot.slack.events import IncomingMessage  # noqa: E402
from bot.memory.store import ConversationStore  # noqa: E402
from bot.memory.connection import connect  # noqa: E402
from bot.tokens import TokenCounter  # noqa: E402
from bot.memory.trimming import plan_window  # noqa: E402
from tests.fakes.openai_api import FakeModel  # noqa: E402
from tests.fakes.slack_api import TEAM_ID, FakeSlack  # noqa: E402
from tests.harness import SIGNING_SECRET, SlackSender, make_settings, mention, message  # noqa: E402

CHANNEL = "C100"


class RawHttpClient:
    """A minimal keep-alive HTTP/1.1 client with TCP_NODELAY, so the ack figure
    is the server's time and the loopback's, not a client library's."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        head = f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.sock.sendall(head.encode() + body)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(65536)
        header_block, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = header_block.decode().split("\r\n")
        length = next((int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length")), 0)
        while len(self.buffer) < length:
            self.buffer += self.sock.recv(65536)
        self.buffer = self.buffer[length:]
        return int(lines[0].split()[1])

    def close(self) -> None:
        self.sock.close()


def wait_until_idle(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while httpx.get(f"{url}/healthz").json().get("in_flight", 0):
        if time.monotonic() > deadline:
            raise SystemExit("the bot did not finish its answers")
        time.sleep(0.005)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def thread_text(n: int) -> str:
    return f"message {n}: " + "we should look at the deployment logs and the error budget " * 2


async def build_thread(redis_url: str, prefix: str, counter: TokenCounter, cid: ConversationId, size: int,
                       system_tokens: int, budget: int, ratio: float) -> int:
    """Grow a thread to ``size`` messages exactly as the bot stores them (append,
    trim in chunks); returns how many turns the stored window holds."""
    store = ConversationStore(connect(redis_url), key_prefix=prefix, ttl_seconds=3600)
    queue = ConversationQueue(store.redis, store.keys, conversation_ttl=3600, lease_ms=600_000)
    batch = Batch()  # the conversation leased once, as the bot would, then written through fenced commits
    taken = queue.accept_in(batch, IncomingMessage(team=cid.team, channel=cid.channel, channel_type="channel", user="U1",
                                                   text="hi", ts=cid.thread, thread_ts=cid.thread, mentioned=True,
                                                   source="app_mention"), "bench")
    await batch.run(store.redis)
    token = taken.acceptance().token or ""
    window: list[StoredMessage] = []
    for n in range(size):
        role = "user" if n % 2 == 0 else "assistant"
        content = f"alice: {thread_text(n)}" if role == "user" else f"Answer {n}: " + "noted, here is what I found " * 3
        turn = StoredMessage(role, content, counter.count_message(content), ts=f"{1_600_000_000 + n}.000000", user="U1")  # type: ignore[arg-type]
        window.append(turn)
        drop = plan_window(window, system_tokens, budget, ratio)
        await queue.commit(cid, token, "", Commit(new=[turn], drop_oldest=drop, imported=True, release=False),
                           now=time.time())
        window = window[drop:]
    stored = len((await store.load(cid)).messages)
    await store.close()
    return stored


def delete_keys(redis_url: str, prefix: str) -> None:
    """Remove what a benchmark wrote (the Redis may be shared)."""
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def shut_down(sender: SlackSender, process: subprocess.Popen[bytes], slack: FakeSlack, model: FakeModel,
              redis_url: str, prefix: str) -> None:
    """Stop the bot and the fakes, and remove what the run wrote."""
    sender.close()
    process.terminate()
    process.wait(30)
    slack.stop()
    model.stop()
    delete_keys(redis_url, prefix)


def start_bot(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
                               cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the bot did not start")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--acks", type=int, default=400)
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1000, 5000])
    args = parser.parse_args()

    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    slack, model = FakeSlack().start(), FakeModel(strict_templates=False).start()
    slack.rate_limits.clear()  # one fake workspace answering hundreds of times a minute: no tiers here
    slack.users.update({"U1": "alice"})
    slack.channels.update({CHANNEL: "general"})
    model.answer = lambda request: "ok"
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SIGNING_SECRET, "OPENAI_API_KEY": "sk-bench",
        "SLACK_API_URL": slack.base_url, "OPENAI_BASE_URL": model.base_url, "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix, "LOG_LEVEL": "WARNING", "STREAM_UPDATE_INTERVAL_SECONDS": "1",
        "SLACK_UPDATES_PER_MINUTE": "1000000",  # one fake workspace answering hundreds of times a minute
        "USER_MESSAGES_PER_MINUTE": "10000",  # one fake user sends every message
        "TIKTOKEN_CACHE_DIR": os.path.join(tempfile.gettempdir(), "slack-assistant-bench-tiktoken"),
    }
    settings = make_settings(**{k: v for k, v in env.items() if k.isupper() and k in {
        "SLACK_API_URL", "OPENAI_BASE_URL", "REDIS_URL", "REDIS_KEY_PREFIX", "TIKTOKEN_CACHE_DIR"}})
    process, url = start_bot(env)
    sender = SlackSender(url)
    try:
        print(f"machine: {os.cpu_count()} cores; redis {redis_url}; python {sys.version.split()[0]}")

        # 1. Ack latency at concurrency 1.
        for _ in range(20):  # warm-up
            sender.send_event(mention("warm up"))
        slack.wait_for_answers(20, timeout=60)
        wait_until_idle(url)
        raw = RawHttpClient(url)
        acks: list[float] = []
        for n in range(args.acks):
            body = json.dumps(SlackSender.envelope(mention(f"ack {n}"))).encode()
            headers = {"Content-Type": "application/json", **sender.sign(body)}
            started = time.perf_counter()
            status = raw.post("/slack/events", body, headers)
            acks.append(time.perf_counter() - started)
            assert status == 200
            wait_until_idle(url)  # concurrency 1: the answer is finished before the next mention
        raw.close()
        print(f"\nack latency over HTTP, {args.acks} signed mentions, concurrency 1 (signed before the clock starts):")
        print(f"  p50 {ms(percentile(acks, 50))}   p99 {ms(percentile(acks, 99))}   max {ms(max(acks))}")

        # 2. Overhead per reply by thread length, and 3. the re-tokenising baseline.
        # All threads are built first, then their turns are interleaved, so whatever the
        # shared machine (or the workspace's Slack budgets) does affects every size alike.
        counter = TokenCounter.for_model(settings.openai_model, settings.tiktoken_cache_dir)
        system_tokens = 120
        parents = {size: f"{1_500_000_000 + size}.000000" for size in args.sizes}
        stored = {
            size: asyncio.run(build_thread(redis_url, prefix, counter, ConversationId(TEAM_ID, CHANNEL, parents[size]), size,
                                           system_tokens, settings.max_context_tokens, settings.trim_target_ratio))
            for size in args.sizes
        }
        overheads: dict[int, list[float]] = {size: [] for size in args.sizes}
        for turn in range(args.turns):
            for size in args.sizes:
                before = len(model.requests)
                started = time.monotonic()
                sender.send_event(message(f"question {turn} about the thread", thread_ts=parents[size]))
                request = model.wait_for_requests(before + 1, timeout=30)[before]
                overheads[size].append(request.started - started)
                wait_until_idle(url)
        results: dict[int, float] = {}
        baselines: dict[int, float] = {}
        for size in args.sizes:
            results[size] = statistics.median(overheads[size])
            texts = [thread_text(n) for n in range(size)]
            timings = []
            for _ in range(5):
                t0 = time.perf_counter()
                for text in texts:  # what a bot that re-reads the thread does every turn
                    counter.count_message(text)
                timings.append(time.perf_counter() - t0)
            baselines[size] = statistics.median(timings)
            print(f"\nthread of {size} messages ({stored[size]} in the stored window):")
            print(f"  overhead event -> model request: median {ms(results[size])}, p90 {ms(percentile(overheads[size], 90))}")
            print(f"  baseline re-tokenising the thread each turn: +{ms(baselines[size])} "
                  f"(= {ms(results[size] + baselines[size])} per reply)")
        smallest, largest = min(args.sizes), max(args.sizes)
        ratio = results[largest] / results[smallest]
        naive_ratio = (results[smallest] + baselines[largest]) / (results[smallest] + baselines[smallest])
        print(f"\noverhead ratio {largest} vs {smallest} messages: {ratio:.2f}x (target <= 1.5x); "
              f"re-tokenising baseline: {naive_ratio:.2f}x")
        print(f"ack p99 {ms(percentile(acks, 99))} (target <= 2 ms)")
    finally:
        shut_down(sender, process, slack, model, redis_url, prefix)


if __name__ == "__main__":
    main()
