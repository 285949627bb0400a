"""``python -m bot serve --workers N``: several processes on one port, sharing Redis."""

from __future__ import annotations

import time

import httpx

from .fakes.slack_api import BOT_TOKEN
from .harness import SIGNING_SECRET, SlackSender, mention, twin_message
from .processes import BotProcess, bot_env
from .test_cli import bare_env, run_bot


def test_two_workers_share_the_port_and_answer_every_message_once(slack, model, redis_url, key_prefix, tiktoken_cache):
    env = bot_env({
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "OPENAI_API_KEY": "sk-test",
        "SLACK_API_URL": slack.base_url, "OPENAI_BASE_URL": model.base_url, "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": key_prefix, "TIKTOKEN_CACHE_DIR": tiktoken_cache, "MODEL_MAX_RETRIES": 0,
        "STREAM_UPDATE_INTERVAL_SECONDS": 0.05, "USER_MESSAGES_PER_MINUTE": 10_000, "LOG_LEVEL": "INFO",
    })
    process = BotProcess(env, ["--workers", "2"])
    try:
        process.wait_ready()
        pids = set()
        deadline = time.monotonic() + 20
        while len(pids) < 2:  # new connections are spread across the workers by the kernel
            assert time.monotonic() < deadline, f"only {pids} answered /healthz"
            with httpx.Client(timeout=5) as client:  # a new connection each time
                pids.add(client.get(f"{process.url}/healthz").json()["pid"])
        assert process.process.pid not in pids  # the workers answer, not the supervisor

        events = [mention(f"question {n}", channel="C100") for n in range(20)]
        senders = [SlackSender(process.url) for _ in range(4)]
        try:
            for n, event in enumerate(events):  # each channel mention comes twice, and once more as a retry
                sender = senders[n % 4]
                sender.send_event(event)
                senders[(n + 1) % 4].send_event(twin_message(event))
                senders[(n + 2) % 4].send_event(event, retry_num=1)
        finally:
            for sender in senders:
                sender.close()
        answers = slack.wait_for_answers(20, timeout=30)
        assert sorted(a.thread_ts for a in answers) == sorted(e["ts"] for e in events)  # one answer per message
        assert len(model.requests) == 20
        deadline = time.monotonic() + 10
        while answered_total(process.url) != 20:  # the last answers' counts are written as their jobs end
            assert time.monotonic() < deadline, answered_total(process.url)
            time.sleep(0.05)
        assert {answered_total(process.url) for _ in range(8)} == {20}, "whichever worker a scrape reaches, the same sum"
    finally:
        process.terminate()
        assert process.wait_exit(45) == 0
        process.close()


def test_workers_need_redis():
    result = run_bot("serve", "--workers", "2", env=bare_env(SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s",
                                                              OPENAI_API_KEY="k"))
    assert result.returncode == 2
    assert "--workers 2 needs REDIS_URL" in result.stderr and "Traceback" not in result.stderr


def test_a_worker_that_dies_is_started_again(slack, model, redis_url, key_prefix, tiktoken_cache):
    import os
    import signal

    env = bot_env({
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "OPENAI_API_KEY": "sk-test",
        "SLACK_API_URL": slack.base_url, "OPENAI_BASE_URL": model.base_url, "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": key_prefix, "TIKTOKEN_CACHE_DIR": tiktoken_cache, "WEB_CONCURRENCY": 2,
    })
    process = BotProcess(env)  # WEB_CONCURRENCY, as the Procfile passes it
    try:
        process.wait_ready()
        with httpx.Client(timeout=5) as client:
            victim = client.get(f"{process.url}/healthz").json()["pid"]
        before = answered_total(process.url)
        os.kill(victim, signal.SIGKILL)
        seen: set[int] = set()
        deadline = time.monotonic() + 30
        while len(seen - {victim}) < 2:  # the survivor and the new worker both answer
            assert time.monotonic() < deadline, f"no new worker: {seen}"
            try:
                with httpx.Client(timeout=5) as client:
                    seen.add(client.get(f"{process.url}/healthz").json()["pid"])
            except httpx.TransportError:
                time.sleep(0.05)  # a connection the killed worker's queue held
        assert "worker 0 (pid" in process.log() or "worker 1 (pid" in process.log()
        assert answered_total(process.url) == before, "a worker's death resets no counter"
    finally:
        process.terminate()
        assert process.wait_exit(45) == 0
        process.close()


def test_workers_stop_when_their_supervisor_is_killed(slack, model, redis_url, key_prefix, tiktoken_cache):
    """kill -9 of the supervisor leaves no worker running unsupervised."""
    import os

    env = bot_env({
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "OPENAI_API_KEY": "sk-test",
        "SLACK_API_URL": slack.base_url, "OPENAI_BASE_URL": model.base_url, "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": key_prefix, "TIKTOKEN_CACHE_DIR": tiktoken_cache,
    })
    process = BotProcess(env, ["--workers", "2"])
    try:
        process.wait_ready()
        supervisor = process.process.pid
        workers = [int(p) for p in os.listdir("/proc") if p.isdigit() and _parent_of(int(p)) == supervisor]
        assert len(workers) == 2
        process.kill()
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in workers):
            assert time.monotonic() < deadline, "workers outlived their supervisor"
            time.sleep(0.05)
    finally:
        process.close()


def _parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


THREADS = 100


def test_three_processes_behind_a_balancer_answer_300_mentions_once_each_in_order(
        slack, model, redis_url, key_prefix, tiktoken_cache):
    import re
    from concurrent.futures import ThreadPoolExecutor

    from .fakes.tcp_proxy import TcpProxy
    from .harness import new_ts

    env = bot_env({
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "OPENAI_API_KEY": "sk-test",
        "SLACK_API_URL": slack.base_url, "OPENAI_BASE_URL": model.base_url, "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": key_prefix, "TIKTOKEN_CACHE_DIR": tiktoken_cache, "MODEL_MAX_RETRIES": 0,
        "STREAM_UPDATE_INTERVAL_SECONDS": 0.5, "USER_MESSAGES_PER_MINUTE": 10_000, "LOG_LEVEL": "WARNING",
        # Slack's tiers (50 updates a minute per workspace) would stretch 300 answers over minutes; the
        # budgets are tested elsewhere, this test is about every message being answered once, in order.
        "SLACK_UPDATES_PER_MINUTE": 100_000,
    })
    slack.rate_limits.clear()
    processes = [BotProcess(env) for _ in range(3)]
    balancer = None
    try:
        for process in processes:
            process.wait_ready()
        balancer = TcpProxy("127.0.0.1", *[p.port for p in processes])
        roots = [new_ts() for _ in range(THREADS)]
        threads = {root: [mention(f"t{n} q{k}", thread_ts=root, ts=new_ts()) for k in range(3)]
                   for n, root in enumerate(roots)}
        deliveries = []
        for k in range(3):  # each thread's questions in order; each sent as the event, its twin and a retry
            for root in roots:
                event = threads[root][k]
                deliveries.append(lambda s, e=event: s.send_event(e))
                deliveries.append(lambda s, e=event: s.send_event(twin_message(e)))
                deliveries.append(lambda s, e=event: s.send_event(e, retry_num=1))
        senders = [SlackSender(f"http://127.0.0.1:{balancer.port}") for _ in range(9)]
        try:
            with ThreadPoolExecutor(9) as pool:  # nine connections, three per process
                statuses = list(pool.map(lambda i: deliveries[i](senders[i % 9]).status_code, range(len(deliveries))))
        finally:
            for sender in senders:
                sender.close()
        assert set(statuses) == {200}
        answers = slack.wait_for_answers(3 * THREADS, timeout=120, final=lambda t: t.startswith("Answer to"))
        assert len(model.requests) == 3 * THREADS, "every message asked once"
        for n, root in enumerate(roots):
            mine = sorted((a for a in answers if a.thread_ts == root), key=lambda a: float(a.ts))
            asked = [int(re.search(rf"t{n} q(\d)", a.text).group(1)) for a in mine]
            assert asked == [0, 1, 2], f"thread {n}: {asked}"  # once each, in the order asked
        logs = "".join(p.log() for p in processes)
        assert "Traceback" not in logs
    finally:
        if balancer is not None:
            balancer.stop()
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait_exit(45)
            process.close()


def answered_total(url: str) -> float:
    """assistant_answers_total summed over its labels, from one scrape on a new connection."""
    from prometheus_client.parser import text_string_to_metric_families

    with httpx.Client(timeout=5) as client:
        text = client.get(f"{url}/metrics").text
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "assistant_answers_total")

