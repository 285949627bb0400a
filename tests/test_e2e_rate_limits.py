"""Many answers streaming at once in one workspace stay within Slack's limits."""

from __future__ import annotations

import threading

from .fakes.openai_api import Scripted
from .harness import SlackSender, mention


def test_thirty_answers_at_once_finish_complete_without_a_429(start_app, slack, model):
    slack.rate_limits["chat.update"] = 50  # Tier 3, per workspace
    first, second = start_app(SLACK_UPDATES_PER_MINUTE=50), start_app(SLACK_UPDATES_PER_MINUTE=50)
    text = "Streaming " * 40
    model.default = Scripted(text=text, chunk_chars=20, delay=0.03)
    senders = [SlackSender(first.url), SlackSender(second.url)]
    try:
        threads = [
            threading.Thread(target=senders[n % 2].send_event, args=(mention(f"question {n}", channel=f"C{n:03d}"),))
            for n in range(30)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        complete = slack.wait_for(
            lambda s: all(any(m.text == text for m in s.posts(f"C{n:03d}")) for n in range(30)), timeout=30
        )
    finally:
        for sender in senders:
            sender.close()
    assert complete, "every answer ends complete"
    answers = slack.posts()
    assert slack.rate_limited.get("chat.update", 0) == 0, "the shared budget kept the workspace under its limit"
    updates = len(slack.calls_to("chat.update"))
    assert updates <= 50
    assert any(len(a.history) > 2 for a in answers), "some progress was still shown"


def test_a_429_makes_the_whole_workspace_wait_and_the_answer_still_completes(app, sender, slack, model):
    slack.fail_next("chat.update", "ratelimited", status=429, retry_after=1)
    model.enqueue(Scripted(text="one two three four five six", chunk_chars=4, delay=0.05))
    sender.send_event(mention("rate limited"))
    [answer] = slack.wait_for_answers(1, timeout=15)
    assert answer.text == "one two three four five six"
    redis = app.runtime.store.redis
    [state_key] = app.call(lambda: redis.keys(f"{app.settings.redis_key_prefix}:v1:rate:*:chat.update:state"))
    blocked = app.call(lambda: redis.hget(state_key, "blocked_until"))
    assert blocked is not None, "the 429 was shared with every process through Redis"


def test_when_the_budget_stays_full_the_answer_is_posted_anew(start_app, slack, model):
    import time

    app = start_app(SLACK_UPDATES_PER_MINUTE=1)
    sender = SlackSender(app.url)
    try:
        first = mention("uses the only update of the minute")
        sender.send_event(first)
        slack.wait_for_answers(1)
        started = time.monotonic()
        second = mention("no update left", channel="C200")
        sender.send_event(second)
        answer = slack.wait_for(lambda s: [m for m in s.posts("C200") if m.text.startswith("Answer to:")], timeout=15)
        assert time.monotonic() - started < 10, "the answer did not wait for the next minute"
        assert answer[0].thread_ts == second["ts"]
        streaming, final = slack.posts("C200")
        assert streaming.text.endswith(" …") and final.text == answer[0].text, "the streaming message awaits deletion"
    finally:
        sender.close()


def test_a_rate_limited_thinking_status_never_delays_the_answer(app, sender, slack, model):
    import time

    slack.fail_next("assistant.threads.setStatus", "ratelimited", status=429, retry_after=30)
    started = time.monotonic()
    sender.send_event(mention("status is rate limited"))
    [answer] = slack.wait_for_answers(1, timeout=10)
    assert time.monotonic() - started < 3, "no waiting for Retry-After on a cosmetic call"
    assert answer.history[0] == "_Thinking…_", "a placeholder shows instead of the status"
    assert answer.text.startswith("Answer to:")

    sender.send_event(mention("and again", channel="C200"))
    slack.wait_for_answers(2, timeout=10)
    assert len(slack.calls_to("assistant.threads.setStatus")) == 1, "the workspace waits out Retry-After for the status"
