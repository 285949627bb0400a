"""Many answers streaming at once in one workspace stay within Slack's limits."""

from __future__ import annotations

import threading

from .fakes.openai_api import Scripted
from .harness import SlackSender, mention, settled


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


def test_when_the_budget_cannot_finish_an_answer_it_keeps_its_status_and_is_posted_once_whole(start_app, slack, model):
    import time

    app = start_app(SLACK_UPDATES_PER_MINUTE=1)
    sender = SlackSender(app.url)
    try:
        first = mention("uses the only update of the minute")
        sender.send_event(first)
        slack.wait_for_answers(1)
        started = time.monotonic()
        second = mention("no update left", channel="C200")
        model.enqueue(Scripted(text="one two three four five six seven eight", chunk_chars=4, delay=0.05))
        sender.send_event(second)
        slack.wait_for(lambda s: [m for m in s.posts("C200") if m.text.startswith("one")], timeout=15)
        assert time.monotonic() - started < 10, "the answer did not wait for the next minute"
        settled(app)  # no work left: nothing more can happen
        [only] = slack.posts("C200")
        assert only.thread_ts == second["ts"] and only.history == ["one two three four five six seven eight"], \
            "one message, posted whole: no partial it could not finish"
        assert slack.deleted == [] and len(slack.calls_to("chat.update")) == 1
    finally:
        sender.close()


def test_an_answer_shown_whose_final_update_stays_blocked_is_posted_anew_and_the_partial_removed(start_app, slack, model):
    app = start_app()
    model.enqueue(Scripted(text=" ".join(f"word{n}" for n in range(60)), chunk_chars=6, delay=0.03))
    sender = SlackSender(app.url)
    try:
        sender.send_event(mention("a long one"))
        partial = slack.wait_for(lambda s: next((m for m in s.posts("C100") if m.text.startswith("word0")), None))
        team = app.runtime.identity.team_id
        app.call(lambda: block_updates(app, team))
        final = slack.wait_for(lambda s: next((m for m in s.posts("C100") if m.text.endswith("word59")), None), timeout=15)
        assert final.ts != partial.ts, "posted anew: Slack would take no update"
        slack.wait_for(lambda s: any(m.ts == partial.ts for m in s.deleted))
    finally:
        sender.close()


async def block_updates(app, team: str) -> None:
    from bot.slack.rate_budget import RateBudget

    settings = app.runtime.settings
    await RateBudget(app.runtime.store.redis, key_prefix=settings.redis_key_prefix, per_minute={}).block(team, "chat.update", 30)


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
