"""A process dies, stops or loses its lease mid-answer: every message still ends with exactly one complete answer.

These run the bot as real processes (``python -m bot serve``) on one Redis, with
the fake Slack and model at the edge, and kill or stop them as a platform would.
"""

from __future__ import annotations

import pytest

import time


from bot.memory.conversation import ConversationId, Keys

from .fakes.openai_api import Scripted
from .fakes.slack_api import TEAM_ID
from .harness import SlackSender, mention, sync_client, settled

# The lease tests also run on the Redis Cluster (the SIGTERM ones test shutdown, not the store).

SLOW = "slowly " * 400  # about 20 s of streaming at the pace below: long enough to be cut


def stored_turns(redis_url: str, key_prefix: str, cid: ConversationId) -> list[bytes]:
    client = sync_client(redis_url)
    try:
        return client.lrange(Keys(key_prefix).messages(cid), 0, -1)
    finally:
        client.close()


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def one_complete_answer(slack, thread_ts: str, expected: str, timeout: float):
    """The thread's bot messages end as exactly one message showing ``expected``."""
    def done():
        posts = [m for m in slack.posts("C100") if m.thread_ts == thread_ts]
        return posts if len(posts) == 1 and posts[0].text == expected and not posts[0].streaming else None

    try:
        return wait_until(done, timeout, "one complete answer")[0]
    except AssertionError:
        shown = [(m.ts, m.text[:60]) for m in slack.posts("C100") if m.thread_ts == thread_ts]
        raise AssertionError(f"the thread shows {shown}, expected one message: {expected!r}") from None


@pytest.mark.on_cluster
def test_kill_9_mid_answer_another_process_finishes_it_within_the_lease(start_process, slack, model, redis_url, key_prefix):
    first, second = start_process(LEASE_SECONDS=2), start_process(LEASE_SECONDS=2)
    model.enqueue(Scripted(text=SLOW, chunk_chars=7, delay=0.05))  # the first attempt streams slowly
    event = mention("please finish this")
    sender = SlackSender(first.url)
    try:
        sender.send_event(event)
        partial = slack.wait_for(lambda s: next((m for m in s.posts() if m.text.startswith("slowly")), None), timeout=20)
        first.kill()
        killed_at = time.monotonic()

        answer = one_complete_answer(slack, event["ts"], "Answer to: alice: please finish this", timeout=15)
        recovered_in = time.monotonic() - killed_at
        assert answer.ts == partial.ts, "the partial answer was replaced in place"
        assert recovered_in < 2 + 3, f"answered {recovered_in:.1f}s after the kill (lease 2 s)"
        assert len(model.requests) == 2
        cid = ConversationId(TEAM_ID, "C100", event["ts"])
        turns = wait_until(lambda: stored_turns(redis_url, key_prefix, cid), 5, "stored turns")
        assert len(turns) == 2 and b"please finish this" in turns[0] and b"Answer to:" in turns[1]
        assert "adopting" in second.log()
    finally:
        sender.close()


def test_sigterm_mid_answer_hands_it_back_and_exits_within_the_grace(start_process, slack, model, redis_url, key_prefix):
    stopping = start_process(LEASE_SECONDS=5, SHUTDOWN_GRACE_SECONDS=1)
    start_process(LEASE_SECONDS=5)  # the process that finishes what the stopping one hands back
    model.enqueue(Scripted(text=SLOW, chunk_chars=7, delay=0.05))
    event = mention("one more thing")
    sender = SlackSender(stopping.url)
    try:
        sender.send_event(event)
        slack.wait_for(lambda s: next((m for m in s.posts() if m.text.startswith("slowly")), None), timeout=20)
        stopping.terminate()
        signalled = time.monotonic()
        assert stopping.wait_exit(15) == 0
        assert time.monotonic() - signalled < 1 + 4, "the grace period is kept (with a little for closing)"

        one_complete_answer(slack, event["ts"], "Answer to: alice: one more thing", timeout=10)
        assert "for another process to answer" in stopping.log()
        cid = ConversationId(TEAM_ID, "C100", event["ts"])
        assert len(wait_until(lambda: stored_turns(redis_url, key_prefix, cid), 5, "stored turns")) == 2
        time.sleep(5 + 1)  # past another lease period and a sweep (LEASE_SECONDS=5): nothing stored again
        assert len(stored_turns(redis_url, key_prefix, cid)) == 2, "stored once"
    finally:
        sender.close()


def test_sigterm_lets_a_short_answer_finish(start_process, slack, model):
    bot = start_process(SHUTDOWN_GRACE_SECONDS=5)
    model.enqueue(Scripted(text="Almost done here.", chunk_chars=3, delay=0.1))
    event = mention("quick one")
    sender = SlackSender(bot.url)
    try:
        sender.send_event(event)
        model.wait_for_requests(1)
        bot.terminate()
        assert bot.wait_exit(10) == 0
        one_complete_answer(slack, event["ts"], "Almost done here.", timeout=1)
        assert "for another process to answer" not in bot.log() and "(0 unfinished" in bot.log()
    finally:
        sender.close()


@pytest.mark.on_cluster
def test_a_worker_that_loses_its_lease_stops_writing_at_once(start_app, slack, model, redis_url, key_prefix, caplog):
    caplog.set_level("WARNING")
    app = start_app(LEASE_SECONDS=1.5)
    model.enqueue(Scripted(text=SLOW, chunk_chars=7, delay=0.05))
    event = mention("who is writing?")
    sender = SlackSender(app.url)
    cid = ConversationId(TEAM_ID, "C100", event["ts"])
    client = sync_client(redis_url)
    try:
        sender.send_event(event)
        partial = slack.wait_for(lambda s: next((m for m in s.posts() if m.text.startswith("slowly")), None), timeout=20)
        # Another process takes the conversation over (as if this one had stalled past its lease).
        client.set(Keys(key_prefix).lock(cid), "wother:99", px=60_000)
        taken_at = time.monotonic()
        wait_until(lambda: "taken over" in caplog.text, 5, "the worker to notice")
        writes = len(slack.calls)
        settled(app)  # the answer's task has ended: any late write would have been made
        late = [c for c in slack.calls[writes:] if c.method.startswith("chat.")]
        assert late == [], f"no writes after the lease was lost: {[c.method for c in late]}"
        assert time.monotonic() - taken_at < 5
        assert client.lrange(Keys(key_prefix).messages(cid), 0, -1) == [], "and nothing stored"
        assert slack.messages[(partial.channel, partial.ts)].text != "Answer to: alice: who is writing?"
    finally:
        client.close()
        sender.close()
