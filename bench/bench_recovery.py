"""Recovery benchmark: how fast an answer is finished after its process is killed, and whether kills lose messages.

    .venv/bin/python bench/bench_recovery.py [--lease 3] [--trials 5] [--kills 50]

1. Recovery time: one bot process streams a slow answer; it is killed with
   SIGKILL mid-answer; a second process adopts the conversation.  Reported:
   seconds from the kill until the thread shows the one complete answer
   (target: at most LEASE_SECONDS + the answer's own time).
2. Kills under load: three bot processes share the work while mentions arrive
   continuously (each answer streams for about a second); every so often one
   process is killed with SIGKILL and a new one started.  Deliveries to a dead
   process are retried on another, as Slack retries a failed delivery.  At the
   end every message must show exactly one complete answer (target: 0 lost,
   0 doubled).

Everything runs on this machine: the fake Slack and model, a local Redis
(127.0.0.1:6379 or BENCH_REDIS_URL), and real ``python -m bot serve`` processes.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.fakes.openai_api import FakeModel, Scripted  # noqa: E402
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack  # noqa: E402
from tests.harness import SIGNING_SECRET, SlackSender, delete_prefix, mention  # noqa: E402
from tests.processes import BotProcess, bot_env  # noqa: E402


def environment(slack: FakeSlack, model: FakeModel, redis_url: str, prefix: str, lease: float) -> dict[str, str]:
    return bot_env({
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "OPENAI_API_KEY": "sk-bench",
        "SLACK_API_URL": slack.base_url, "OPENAI_BASE_URL": model.base_url, "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix, "LOG_LEVEL": "WARNING", "LEASE_SECONDS": lease, "MODEL_MAX_RETRIES": 0,
        "STREAM_UPDATE_INTERVAL_SECONDS": 0.5, "SLACK_UPDATES_PER_MINUTE": 1_000_000, "USER_MESSAGES_PER_MINUTE": 10_000,
        "TIKTOKEN_CACHE_DIR": os.path.join(tempfile.gettempdir(), "slack-assistant-bench-tiktoken"),
    })


def complete(slack: FakeSlack, event: dict, expected: str) -> bool:
    posts = [m for m in slack.posts(event["channel"]) if m.thread_ts == event["ts"]]
    return len(posts) == 1 and posts[0].text == expected and not posts[0].streaming


def recovery_times(slack: FakeSlack, model: FakeModel, env: dict[str, str], trials: int) -> list[float]:
    times = []
    survivor = BotProcess(env).wait_ready()
    try:
        for n in range(trials):
            victim = BotProcess(env).wait_ready()
            model.enqueue(Scripted(text="slowly " * 400, chunk_chars=7, delay=0.05))
            event = mention(f"recover {n}", channel="C100")
            sender = SlackSender(victim.url)
            sender.send_event(event)
            slack.wait_for(lambda s: any(m.thread_ts == event["ts"] and m.text.startswith("slowly") for m in s.posts()), 30)
            victim.kill()
            killed = time.monotonic()
            expected = f"Answer to: alice: recover {n}"
            while not complete(slack, event, expected):
                if time.monotonic() - killed > 60:
                    raise SystemExit(f"trial {n}: not recovered within 60 s")
                time.sleep(0.02)
            times.append(time.monotonic() - killed)
            sender.close()
            victim.close()
    finally:
        survivor.close()
    return times


def kills_under_load(slack: FakeSlack, model: FakeModel, env: dict[str, str], kills: int) -> tuple[int, int, int, float]:
    """(messages sent, lost, doubled, seconds) over ``kills`` SIGKILLs of random processes under steady load."""
    model.default = Scripted(chunk_chars=3, delay=0.05)  # each answer streams for about a second
    processes = [BotProcess(env).wait_ready() for _ in range(3)]
    lock = threading.Lock()
    sent: list[dict] = []
    stop = threading.Event()

    def deliver() -> None:
        client = httpx.Client(timeout=5)
        n = 0
        while not stop.is_set():
            event = mention(f"load {n}", channel=random.choice(["C100", "C200"]))
            body = SlackSender.envelope(event)
            signer = SlackSender("")
            payload = __import__("json").dumps(body).encode()
            for _ in range(20):  # a failed delivery is retried on another process, as Slack retries
                with lock:
                    target = random.choice(processes)
                try:
                    response = client.post(f"{target.url}/slack/events", content=payload,
                                           headers={"Content-Type": "application/json", **signer.sign(payload)})
                    if response.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            else:
                raise SystemExit("a delivery found no live process")
            signer.close()
            sent.append(event)
            n += 1
            time.sleep(0.1)
        client.close()

    started = time.monotonic()
    loader = threading.Thread(target=deliver, daemon=True)
    loader.start()
    try:
        for k in range(kills):
            time.sleep(random.uniform(0.5, 1.5))
            with lock:
                victim = processes.pop(random.randrange(len(processes)))
            victim.kill()
            victim.close()
            replacement = BotProcess(env).wait_ready()
            with lock:
                processes.append(replacement)
            print(f"\r  {k + 1}/{kills} kills, {len(sent)} messages sent", end="", flush=True)
        stop.set()
        loader.join(30)
        deadline = time.monotonic() + 120
        pending = list(sent)
        while pending and time.monotonic() < deadline:
            pending = [e for e in pending if not complete(slack, e, f"Answer to: alice: {e['text'].split('> ', 1)[1]}")]
            time.sleep(0.5)
    finally:
        stop.set()
        for process in processes:
            process.close()
    print()
    lost = doubled = 0
    for event in sent:
        posts = [m for m in slack.posts(event["channel"]) if m.thread_ts == event["ts"]]
        expected = f"Answer to: alice: {event['text'].split('> ', 1)[1]}"
        if len(posts) > 1:
            doubled += 1
        elif not posts or posts[0].text != expected:
            lost += 1
    return len(sent), lost, doubled, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lease", type=float, default=3.0, help="LEASE_SECONDS for the bot processes")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--kills", type=int, default=50)
    args = parser.parse_args()

    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    slack, model = FakeSlack().start(), FakeModel(strict_templates=False).start()
    slack.rate_limits.clear()
    slack.users.update({"U1": "alice"})
    slack.channels.update({"C100": "general", "C200": "random"})
    env = environment(slack, model, redis_url, prefix, args.lease)
    try:
        print(f"recovery after kill -9 mid-answer (LEASE_SECONDS={args.lease:g}, {args.trials} trials):")
        times = recovery_times(slack, model, env, args.trials)
        print(f"  seconds from the kill to the complete answer: median {statistics.median(times):.2f}, "
              f"max {max(times):.2f} (target <= {args.lease:g} + the answer's own time)")
        print(f"\n{args.kills} kill -9s of random processes (3 running) under steady load:")
        count, lost, doubled, took = kills_under_load(slack, model, env, args.kills)
        print(f"  {count} messages in {took:.0f}s: {lost} lost, {doubled} answered twice (target 0 and 0)")
    finally:
        slack.stop()
        model.stop()
        delete_prefix(redis_url, prefix)


if __name__ == "__main__":
    main()
