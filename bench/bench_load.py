"""Benchmark: one bot process under bursts, its own cost per answer, prompt caching and memory,
today's code beside an earlier revision's, measured side by side in one run.

Run:  .venv/bin/python -m bench.bench_load                 (Redis at BENCH_REDIS_URL,
      .venv/bin/python -m bench.bench_load --quick          default redis://127.0.0.1:6379/0)

The earlier revision (``--baseline``, default the commit before the load work) is
unpacked from git into a temporary folder and run the same way as today's code
(``python -m bot serve``, a real process), against the same fake Slack and fake
model (tests/fakes, in this process).  Each measurement runs the two one after
the other, so the ratios compare like with like on this shared, noisy machine.

1. Bursts: N new conversations (channel mentions) sent at once, 2-second streamed
   answers, no Slack tiers: share answered, error sentences, ack p50/p99,
   event -> model request p50/p99, bot CPU per answer, RSS per conversation in flight.
2. Counted, not timed (one mention at a time): Redis round trips and Slack calls
   before the model request, and Redis round trips per answer.  Redis is reached
   through a proxy here that counts round trips (a request burst answered by a
   response burst; the process heartbeat and sweep are left out) and Slack answers
   each call after 30 ms, so a call the bot waits for before asking the model shows.
3. Prompt caching: a 300-turn thread (MAX_CONTEXT_TOKENS=4000), one speaker and two
   speakers taking turns: the share of input tokens that repeat the previous
   request's prefix, by OpenAI's rule (cached from 1,024 tokens, in steps of 128),
   and requests over the budget by the OpenAI cookbook's count.
4. Redis memory per 20-turn conversation (MEMORY USAGE of every key written).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any, Callable

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.tokens import load_encoding  # noqa: E402
from tests.fakes.openai_api import FakeModel, Scripted  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402
from tests.harness import SIGNING_SECRET, SlackSender, mention, message  # noqa: E402

BASELINE = "e221d1d"  # main before the load work (issue 9)
ANSWER = " ".join(f"word{n}" for n in range(80))  # streamed in 40 chunks, 50 ms apart: 2 seconds
ERRORS = ("Sorry", "memory is unavailable", "try again")
TIKTOKEN_DIR = os.path.join(tempfile.gettempdir(), "slack-assistant-bench-tiktoken")


# --- the two revisions ------------------------------------------------------------
def unpack(revision: str) -> Path:
    """The revision's files in a temporary folder (nothing of this checkout is touched)."""
    folder = Path(tempfile.mkdtemp(prefix=f"bench-{revision}-"))
    archive = subprocess.run(["git", "archive", revision, "bot", "handlers", "prompts"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


@dataclass
class Variant:
    name: str
    root: Path  # where `python -m bot` finds its package


class Bot:
    """One bot process (``python -m bot serve``) of a variant."""

    def __init__(self, variant: Variant, env: dict[str, str]) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=variant.root, env={**env, "PYTHONPATH": str(variant.root)},
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the {variant.name} bot did not start")
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def bot_env(slack: FakeSlack, model: FakeModel, redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SIGNING_SECRET, "OPENAI_API_KEY": "sk-bench",
        "SLACK_API_URL": slack.base_url, "OPENAI_BASE_URL": model.base_url, "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix, "LOG_LEVEL": "ERROR", "STREAM_UPDATE_INTERVAL_SECONDS": "1",
        "SLACK_UPDATES_PER_MINUTE": "1000000", "USER_MESSAGES_PER_MINUTE": "10000",
        "MAX_CONCURRENT_ANSWERS": "1000", "REDIS_MAX_CONNECTIONS": "200", "TIKTOKEN_CACHE_DIR": TIKTOKEN_DIR,
        "PRICES_FILE": str(ROOT / "prices.yaml"),  # an unpacked revision has only its code and prompts
        **extra,
    }


def fakes() -> tuple[FakeSlack, FakeModel]:
    slack, model = FakeSlack().start(), FakeModel(strict_templates=False).start()
    slack.rate_limits.clear()  # no Slack tiers
    slack.users.update({"U1": "alice", "U2": "bob"})
    slack.channels.update({"C100": "general"})
    return slack, model


def delete_keys(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)
    client.close()


def shut_down(bot: Bot, slack: FakeSlack, model: FakeModel, redis_url: str, prefix: str, sender: SlackSender | None = None) -> None:
    """Stop the bot and the fakes, and remove what the run wrote (the Redis may be shared)."""
    if sender is not None:
        sender.close()
    bot.stop()
    slack.stop()
    model.stop()
    delete_keys(redis_url, prefix)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


# --- 1. bursts ------------------------------------------------------------------------
@dataclass
class Burst:
    size: int
    answered: int = 0
    errors: int = 0
    acks: list[float] = field(default_factory=list)
    to_model: list[float] = field(default_factory=list)
    cpu_per_answer: float = 0.0
    rss_per_conversation: float = 0.0
    seconds: float = 0.0


async def _send_raw(url: str, bodies: list[tuple[str, bytes]]) -> dict[str, tuple[float, float]]:
    """Open one connection per body, then send every body at once; (sent, acked) per key."""
    host, port = url.removeprefix("http://").split(":")
    connections = [await asyncio.open_connection(host, int(port)) for _ in bodies]
    signer = SlackSender(url)
    times: dict[str, tuple[float, float]] = {}

    async def one(key: str, body: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        times[key] = await post_signed(signer, body, reader, writer)
        writer.close()

    await asyncio.gather(*(one(key, body, r, w) for (key, body), (r, w) in zip(bodies, connections)))
    signer.close()
    return times


async def post_signed(signer: SlackSender, body: bytes, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> tuple[float, float]:
    """POST a signed event on an open connection; (sent, acked) times.  A non-200 ends the run."""
    headers = {"Content-Type": "application/json", **signer.sign(body), "Content-Length": str(len(body)),
               "Host": "bench"}
    request = b"POST /slack/events HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
    sent = time.monotonic()
    writer.write(request + b"\r\n" + body)
    status = await reader.readline()
    acked = time.monotonic()
    if b" 200 " not in status:
        raise SystemExit(f"the bot answered {status!r}")
    return sent, acked


def send_all(url: str, events: list[dict[str, Any]]) -> tuple[list[float], dict[str, float]]:
    """Send every event at once from a separate process (this one runs the fakes, whose
    threads would slow a sender down and show in its figures); ack times and when each was sent.
    Connections are opened first, so the figure is the bot's answer to a request, not connection set-up."""
    bodies = [(e["ts"], json.dumps(SlackSender.envelope(e))) for e in events]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(bodies, f)
    result = subprocess.run([sys.executable, "-m", "bench.bench_load", "--send", url, f.name], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    os.unlink(f.name)
    times = {key: tuple(value) for key, value in json.loads(result.stdout).items()}
    return [acked - sent for sent, acked in times.values()], {key: sent for key, (sent, _) in times.items()}


def burst(variant: Variant, size: int, redis_url: str) -> Burst:
    slack, model = fakes()
    model.default = Scripted(text=ANSWER, chunk_chars=len(ANSWER) // 40 + 1, delay=0.05)
    prefix = f"bench-load-{uuid.uuid4().hex[:8]}"
    bot = Bot(variant, bot_env(slack, model, redis_url, prefix))
    result = Burst(size)
    try:
        warm = mention("warm up")
        send_all(bot.url, [warm])
        slack.wait_for(lambda s: any(m.text == ANSWER for m in s.posts()), 30)
        time.sleep(0.5)
        events = [mention(f"question {n} of the burst", channel="C100", user="U1") for n in range(size)]
        rss_before, cpu_before = bot.rss_bytes(), bot.cpu_seconds()
        peak = [rss_before]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.05):
                peak[0] = max(peak[0], bot.rss_bytes())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        result.acks, sent = send_all(bot.url, events)
        threads = {e["ts"] for e in events}

        def finished(s: FakeSlack) -> bool:
            final = [m for m in s.posts() if m.thread_ts in threads and (m.text == ANSWER or m.text.startswith(ERRORS))]
            return len(final) >= size or None  # type: ignore[return-value]

        try:
            slack.wait_for(finished, timeout=120)
        except AssertionError:
            pass
        result.seconds = time.monotonic() - started
        time.sleep(0.5)
        done.set()
        sampler.join()
        cpu = bot.cpu_seconds() - cpu_before
        posts = [m for m in slack.posts() if m.thread_ts in threads]
        answered = {m.thread_ts for m in posts if m.text == ANSWER}
        result.answered = len(answered)
        result.errors = sum(1 for m in posts if m.text.startswith(ERRORS))
        result.cpu_per_answer = cpu / max(1, result.answered)
        result.rss_per_conversation = (peak[0] - rss_before) / size
        by_question = {e["text"].split("> ", 1)[1]: e["ts"] for e in events}
        for request in model.requests:
            ts = by_question.get(request.last_user_text.rsplit("\n", 1)[-1])
            if ts in sent:
                result.to_model.append(request.started - sent[ts])
    finally:
        shut_down(bot, slack, model, redis_url, prefix)
    return result


# --- 2. counting round trips and Slack calls ----------------------------------------
class CountingProxy:
    """A TCP proxy in front of Redis that logs every round trip: the commands a client
    sent before reading a reply, with the time the reply came back."""

    BACKGROUND = ("{delivery}:workers", "{delivery}:ready")

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.trips: list[tuple[float, list[str]]] = []  # (reply time, command names with their first key)
        self.lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        pending: list[str] = []
        buffer = b""
        client.setblocking(True)
        import selectors
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ)
        selector.register(upstream, selectors.EVENT_READ)
        try:
            while True:
                for key, _ in selector.select():
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    if key.fileobj is client:
                        buffer += data
                        commands, buffer = parse_commands(buffer)
                        pending += commands
                        upstream.sendall(data)
                    else:
                        if pending:
                            with self.lock:
                                self.trips.append((time.monotonic(), pending))
                            pending = []
                        client.sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def between(self, start: float, end: float) -> int:
        """Round trips answered in [start, end], the sweep's and heartbeat's left out."""
        with self.lock:
            return sum(1 for t, commands in self.trips if start <= t <= end and not self._background(commands))

    def _background(self, commands: list[str]) -> bool:
        return all(c.startswith(("TIME", "PING", "SUBSCRIBE")) or any(b in c for b in self.BACKGROUND) for c in commands)

    def close(self) -> None:
        self.server.close()


def parse_commands(buffer: bytes) -> tuple[list[str], bytes]:
    """Complete RESP commands in ``buffer`` as 'NAME key' strings, and the unparsed rest."""
    commands: list[str] = []
    while buffer.startswith(b"*"):
        try:
            end = buffer.index(b"\r\n")
            count = int(buffer[1:end])
            at, parts = end + 2, []
            for _ in range(count):
                end = buffer.index(b"\r\n", at)
                length = int(buffer[at + 1 : end])
                parts.append(buffer[end + 2 : end + 2 + length])
                at = end + 2 + length + 2
                if at > len(buffer):
                    raise ValueError
        except ValueError:
            break
        name = parts[0].decode(errors="replace").upper()
        key = ""
        if name in ("EVALSHA", "EVAL") and len(parts) > 3:
            key = parts[3].decode(errors="replace")
        elif len(parts) > 1:
            key = parts[1].decode(errors="replace")
        commands.append(f"{name} {key}")
        buffer = buffer[at:]
    return commands, buffer


@dataclass
class Counted:
    redis_before_model: float = 0.0
    slack_before_model: float = 0.0
    redis_per_answer: float = 0.0
    slack_per_answer: float = 0.0


class TimedSlack(FakeSlack):
    """The fake Slack, answering every call 30 ms late and noting when each was answered."""

    def __init__(self) -> None:
        super().__init__()
        self.answered_at: list[tuple[float, str]] = []

    def handle(self, method: str, params: dict[str, Any], token: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
        time.sleep(0.03)
        result = super().handle(method, params, token)
        with self._condition:
            self.answered_at.append((time.monotonic(), method))
        return result


def count(variant: Variant, redis_url: str, answers: int) -> Counted:
    host, port = redis_url.removeprefix("redis://").split("/")[0].split(":")
    proxy = CountingProxy((host, int(port)))
    slack = TimedSlack().start()
    slack.rate_limits.clear()
    slack.users.update({"U1": "alice"})
    slack.channels.update({"C100": "general"})
    model = FakeModel(strict_templates=False).start()
    model.default = Scripted(text=ANSWER, chunk_chars=len(ANSWER) // 4 + 1, delay=0.3)  # a 1.2-second answer
    prefix = f"bench-count-{uuid.uuid4().hex[:8]}"
    bot = Bot(variant, bot_env(slack, model, f"redis://127.0.0.1:{proxy.port}/0", prefix))
    signer = SlackSender(bot.url)
    totals = Counted()
    try:
        for n in range(answers + 2):  # the first two warm the caches (names, scripts)
            event = mention(f"counted question {n}")
            before = len(model.requests)
            sent = time.monotonic()
            signer.send_event(event)
            model.wait_for_requests(before + 1, timeout=30)
            asked = model.requests[before].started
            slack.wait_for(lambda s: any(m.thread_ts == event["ts"] and m.text == ANSWER and not m.streaming
                                         for m in s.posts()), 30)
            time.sleep(1.5)  # the answer's last writes, and a sweep that forgets finished work
            ended = time.monotonic()
            if n < 2:
                continue
            totals.redis_before_model += proxy.between(sent, asked)
            totals.redis_per_answer += proxy.between(sent, ended)
            with slack._condition:
                totals.slack_before_model += sum(1 for t, _ in slack.answered_at if sent <= t <= asked)
                totals.slack_per_answer += sum(1 for t, _ in slack.answered_at if sent <= t <= ended)
    finally:
        shut_down(bot, slack, model, redis_url, prefix, signer)
        proxy.close()
    for name in ("redis_before_model", "slack_before_model", "redis_per_answer", "slack_per_answer"):
        setattr(totals, name, getattr(totals, name) / answers)
    return totals


# --- 3. prompt caching ----------------------------------------------------------------
def cached_share(requests: list[list[dict[str, str]]], encode: Callable[[str], list[int]], budget: int) -> tuple[float, int]:
    """Share of input tokens a provider caching prefixes (>= 1,024 tokens, 128-token steps)
    would have served from cache, and requests over ``budget`` by the cookbook's count."""
    previous: list[int] = []
    cached = total = over = 0
    for messages in requests:
        tokens: list[int] = []
        for m in messages:
            tokens += [-1, -2, -3, *encode(m["role"]), *encode(m["content"])]  # 3 framing tokens, role, content
        tokens += [-4, -5, -6]  # the reply's priming
        common = 0
        for a, b in zip(previous, tokens):
            if a != b:
                break
            common += 1
        cached += 0 if common < 1024 else 1024 + (common - 1024) // 128 * 128
        total += len(tokens)
        over += len(tokens) > budget
        previous = tokens
    return cached / max(1, total), over


def planning_thread(sender: SlackSender, slack: FakeSlack, turns: int, speakers: int = 1) -> None:
    """The caching thread: a planning question, then ``turns`` - 1 follow-ups (two speakers take turns)."""
    first = mention("let us plan the quarter " + "with the numbers from last year " * 3)
    sender.send_event(first)
    slack.wait_for_answers(1, timeout=30)
    for n in range(1, turns):
        user = "U1" if speakers == 1 or n % 2 == 0 else "U2"
        sender.send_event(message(f"turn {n}: " + "what about the budget and the hiring plan " * 3, user=user,
                                  thread_ts=first["ts"]))
        slack.wait_for_answers(n + 1, timeout=30)


def caching(variant: Variant, redis_url: str, turns: int, speakers: int) -> tuple[float, int]:
    slack, model = fakes()
    model.answer = lambda request: "Here is a short answer with a few details " * 3
    prefix = f"bench-cache-{uuid.uuid4().hex[:8]}"
    budget = 4000
    bot = Bot(variant, bot_env(slack, model, redis_url, prefix, MAX_CONTEXT_TOKENS=str(budget)))
    sender = SlackSender(bot.url)
    try:
        planning_thread(sender, slack, turns, speakers)
        encoding = load_encoding("o200k_base", Path(TIKTOKEN_DIR))
        return cached_share([r.messages for r in model.requests], lambda t: encoding.encode(t, disallowed_special=()), budget)
    finally:
        shut_down(bot, slack, model, redis_url, prefix, sender)


# --- 4. memory ----------------------------------------------------------------------------
def memory(variant: Variant, redis_url: str, conversations: int, turns: int) -> tuple[float, float]:
    """Redis bytes per conversation of ``turns`` questions (and the text's own bytes)."""
    slack, model = fakes()
    answer = "A considered answer that goes into some detail about the question asked. " * 4
    model.answer = lambda request: answer
    prefix = f"bench-mem-{uuid.uuid4().hex[:8]}"
    bot = Bot(variant, bot_env(slack, model, redis_url, prefix))
    sender = SlackSender(bot.url)
    text_bytes = 0
    try:
        answers = 0
        for c in range(conversations):
            question = f"conversation {c}: how do we roll out the new billing system safely? "
            first = mention(question)
            sender.send_event(first)
            answers += 1
            slack.wait_for_answers(answers, timeout=30)
            text_bytes += len(question) + len(answer)
            for n in range(1, turns):
                follow_up = f"turn {n}: and what about the migration of the old invoices? "
                sender.send_event(message(follow_up, thread_ts=first["ts"]))
                answers += 1
                slack.wait_for_answers(answers, timeout=30)
                text_bytes += len(follow_up) + len(answer)
        time.sleep(1.0)
        client = redis.Redis.from_url(redis_url)
        used = sum(client.memory_usage(key, samples=0) or 0 for key in client.scan_iter(match=f"{prefix}:*", count=1000))
        client.close()
        return used / conversations, text_bytes / conversations
    finally:
        shut_down(bot, slack, model, redis_url, prefix, sender)


# --- report -------------------------------------------------------------------------------
def side_by_side(label: str, old: float, new: float, unit: str = "", digits: int = 1) -> str:
    ratio = f"{new / old:.2f}x" if old else "-"
    return f"  {label:<44} {old:>10.{digits}f}{unit:<4} {new:>10.{digits}f}{unit:<4} {ratio:>7}"


def send_from_file(url: str, path: str) -> None:
    """The sender process: bodies from ``path``, times as JSON on stdout."""
    bodies = [(key, body.encode()) for key, body in json.loads(Path(path).read_text())]
    print(json.dumps(asyncio.run(_send_raw(url, bodies))))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--send":
        send_from_file(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", default=BASELINE, help="the earlier revision to run beside today's code")
    parser.add_argument("--bursts", type=int, nargs="+", default=[100, 300, 500])
    parser.add_argument("--counted", type=int, default=10, help="answers counted one at a time")
    parser.add_argument("--turns", type=int, default=300, help="turns of the prompt-caching thread")
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the script")
    args = parser.parse_args()
    if args.quick:
        args.bursts, args.counted, args.turns = [50], 3, 40
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    old, new = Variant(f"baseline {args.baseline}", unpack(args.baseline)), Variant("today", ROOT)
    print(f"machine: {os.cpu_count()} cores; redis {redis_url}; python {sys.version.split()[0]}")
    print(f"  {'':<44} {'baseline':>14} {'today':>14} {'ratio':>7}")

    for size in args.bursts:
        b_old, b_new = burst(old, size, redis_url), burst(new, size, redis_url)
        print(f"burst of {size} new conversations (2-second streamed answers):")
        print(side_by_side("answered (%)", 100 * b_old.answered / size, 100 * b_new.answered / size, "%"))
        print(side_by_side("error sentences", b_old.errors, b_new.errors, "", 0))
        print(side_by_side("ack p50", 1000 * percentile(b_old.acks, 50), 1000 * percentile(b_new.acks, 50), "ms"))
        print(side_by_side("ack p99", 1000 * percentile(b_old.acks, 99), 1000 * percentile(b_new.acks, 99), "ms"))
        print(side_by_side("event -> model request p50", 1000 * percentile(b_old.to_model, 50),
                           1000 * percentile(b_new.to_model, 50), "ms"))
        print(side_by_side("event -> model request p99", 1000 * percentile(b_old.to_model, 99),
                           1000 * percentile(b_new.to_model, 99), "ms"))
        print(side_by_side("bot CPU per answer", 1000 * b_old.cpu_per_answer, 1000 * b_new.cpu_per_answer, "ms"))
        print(side_by_side("RSS per conversation in flight", b_old.rss_per_conversation / 1024,
                           b_new.rss_per_conversation / 1024, "KiB"))
        print(side_by_side("burst answered within", b_old.seconds, b_new.seconds, "s"))

    c_old, c_new = count(old, redis_url, args.counted), count(new, redis_url, args.counted)
    print(f"counted, one mention at a time ({args.counted} answers, averaged):")
    print(side_by_side("Redis round trips before the model request", c_old.redis_before_model, c_new.redis_before_model))
    print(side_by_side("Slack calls waited for before the model request", c_old.slack_before_model, c_new.slack_before_model))
    print(side_by_side("Redis round trips per answer", c_old.redis_per_answer, c_new.redis_per_answer))
    print(side_by_side("Slack calls per answer", c_old.slack_per_answer, c_new.slack_per_answer))

    for speakers in (1, 2):
        (s_old, o_old), (s_new, o_new) = caching(old, redis_url, args.turns, speakers), caching(new, redis_url, args.turns, speakers)
        print(f"prompt caching, {args.turns}-turn thread, {speakers} speaker{'s' if speakers > 1 else ''}:")
        print(side_by_side("input tokens served from the cache (%)", 100 * s_old, 100 * s_new, "%"))
        print(side_by_side("requests over MAX_CONTEXT_TOKENS", o_old, o_new, "", 0))

    (m_old, text), (m_new, _) = memory(old, redis_url, 5, 20), memory(new, redis_url, 5, 20)
    print(f"Redis memory per 20-turn conversation (its text alone: {text / 1024:.1f} KiB):")
    print(side_by_side("memory", m_old / 1024, m_new / 1024, "KiB"))


if __name__ == "__main__":
    main()
