"""The cost and usage ledger, quotas and allowlists, end to end: the fake model reports
usage (cached tokens included), real Redis keeps the totals."""

from __future__ import annotations

import pytest

import json
from datetime import datetime, timezone

from bot.memory.conversation import ConversationId, Keys
from bot.pricing import PriceTable, Price
from bot.usage.ledger import CallUsage, Ledger, Spent, usage_key
from bot.usage.quotas import QuotaLimits, refusal

from .fakes.openai_api import Scripted
from .fakes.slack_api import TEAM_ID
from .harness import SlackSender, command_reply, mention
from .test_cli import bare_env, run_bot
from .test_e2e_management import manage

# The ledger and quota tests also run on the Redis Cluster (the allowlists keep nothing in Redis).

SENT_1 = (1000, 400, 100)  # prompt, cached, completion tokens
SENT_2 = (2000, 0, 50)
COST = ((600 * 0.15 + 400 * 0.075 + 100 * 0.60) + (2000 * 0.15 + 50 * 0.60)) / 1e6  # gpt-4o-mini's prices


def ask(app, slack, text: str, *, user: str = "U1", channel: str = "C100", answers: int, stored: bool = True) -> None:
    """Mention the bot; with ``stored``, wait until the answer (and so its usage) is stored: the
    commit that records it follows the answer's last update in Slack."""
    sender = SlackSender(app.url)
    event = mention(text, user=user, channel=channel)
    try:
        sender.send_event(event)
    finally:
        sender.close()
    if answers:
        slack.wait_for_answers(answers)
    if stored and answers:
        app.wait_stored(ConversationId(TEAM_ID, channel, event["ts"]), 2)


@pytest.mark.on_cluster
def test_the_ledger_adds_up_tokens_and_cost_per_user_model_and_prompt(app, slack, model, redis_url, key_prefix):
    model.enqueue(Scripted(text="One.", usage=SENT_1), Scripted(text="Two.", usage=SENT_2))
    ask(app, slack, "first", answers=1)
    ask(app, slack, "second", answers=2)
    env = bare_env(REDIS_URL=redis_url, REDIS_KEY_PREFIX=key_prefix)

    def report(*args: str) -> list[dict]:
        result = run_bot("usage", *args, "--json", env=env)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["rows"]

    [row] = report("--by", "model")
    assert row["model"] == "gpt-4o-mini" and row["calls"] == 2
    assert (row["input_tokens"], row["cached_input_tokens"], row["output_tokens"]) == (3000, 400, 150)
    assert abs(row["cost_usd"] - COST) < 1e-9
    assert [r["user"] for r in report("--by", "user")] == ["U1"]
    assert [r["prompt"] for r in report("--by", "prompt")] == ["system"]
    table = run_bot("usage", "--by", "channel", env=env).stdout
    assert "C100" in table and "400 (13%)" in table and f"{COST:,.4f}" in table

    sender = SlackSender(app.url)
    try:
        text = manage(sender, slack, "usage")
    finally:
        sender.close()
    assert f"You today: 3,150 tokens (3,000 in, 150 out), ${COST:,.4f}" in text


@pytest.mark.on_cluster
def test_a_user_over_the_daily_limit_gets_one_sentence_and_no_model_call(start_app, slack, model):
    app = start_app(USER_DAILY_TOKEN_LIMIT=1000)
    model.enqueue(Scripted(text="One.", usage=(1000, 0, 100)))
    ask(app, slack, "first", answers=1)
    ask(app, slack, "second", answers=1, stored=False)
    note = slack.wait_for(lambda s: [e for e in s.ephemeral if "tokens for today" in e.get("text", "")])[0]
    assert note["user"] == "U1" and note["text"].startswith("You've used your 1,000 tokens for today")
    assert "resets at midnight UTC (in " in note["text"]
    assert len(model.requests) == 1
    ask(app, slack, "from someone else", user="U2", answers=2)  # the limit is per person
    assert len(model.wait_for_requests(2)) == 2


def test_admins_are_exempt_from_the_user_limit_but_not_the_channel_limit(start_app, slack, model):
    app = start_app(USER_DAILY_TOKEN_LIMIT=500, CHANNEL_DAILY_TOKEN_LIMIT=2400, ADMIN_USER_IDS="U1")
    for n in range(2):
        model.enqueue(Scripted(text=f"Answer {n}.", usage=(1000, 0, 200)))
        ask(app, slack, f"question {n}", answers=n + 1)
    ask(app, slack, "third", answers=2, stored=False)
    note = slack.wait_for(lambda s: [e for e in s.ephemeral if "This channel has used" in e.get("text", "")])[0]
    assert note["text"].startswith("This channel has used its 2,400 tokens for today")
    assert len(model.requests) == 2


@pytest.mark.on_cluster
def test_the_workspace_monthly_budget_refuses_commands_too(start_app, slack, model):
    app = start_app(TEAM_MONTHLY_COST_LIMIT_USD=0.0001)
    model.enqueue(Scripted(text="Costly.", usage=SENT_1))
    ask(app, slack, "first", answers=1)
    reply = command_reply(app, slack, "/ask", "anything?")
    assert reply["text"].startswith("This workspace has reached its $0.0001 budget for the month, so I can't answer")
    assert len(model.requests) == 1


def test_allowlists_refuse_without_a_model_call(start_app, slack, model):
    app = start_app(ALLOWED_CHANNEL_IDS="C200", BLOCKED_USER_IDS="U3")
    ask(app, slack, "here?", channel="C100", answers=0)
    ask(app, slack, "blocked", user="U3", channel="C200", answers=0)
    notes = slack.wait_for(lambda s: s.ephemeral if len(s.ephemeral) >= 2 else None)
    texts = sorted(n["text"] for n in notes)
    assert texts == ["Sorry, I'm not set up to answer in this channel. Ask the people who run me to add it.",
                     "Sorry, I'm not set up to answer you. Ask the people who run me if you think this is a mistake."]
    ask(app, slack, "allowed", user="U1", channel="C200", answers=1)
    assert len(model.wait_for_requests(1)) == 1
    sender = SlackSender(app.url)
    try:
        sender.send_command("/ask", "hi", user="U3", channel="C200", response_url=slack.response_url("blocked"))
        [reply] = slack.wait_for_response("blocked")
    finally:
        sender.close()
    assert reply["text"].startswith("Sorry, I'm not set up to answer you.") and len(model.requests) == 1


@pytest.mark.on_cluster
async def test_daily_limits_reset_at_midnight_and_the_budget_on_the_first(redis_url, key_prefix):
    from bot.memory.connection import open_redis

    redis = await open_redis(redis_url)
    ledger = Ledger(redis, Keys(key_prefix), PriceTable({"m": Price(input=1_000_000.0, output=0.0)}))  # $1 a token
    try:
        from bot.memory.batch import Batch

        batch = Batch()
        late = datetime(2026, 11, 30, 23, 59, tzinfo=timezone.utc)
        ledger.record_in(batch, "T1", "C1", "U1", CallUsage("m", "system", 3, 0, 2), late)
        await batch.run(redis)
        assert await ledger.spent(redis, "T1", "C1", "U1", late) == Spent(5, 5, 3.0)
        assert await ledger.spent(redis, "T1", "C1", "U1", datetime(2026, 12, 1, 0, 0, tzinfo=timezone.utc)) == Spent(0, 0, 0.0)
    finally:
        await redis.aclose()
    limits = QuotaLimits(user_daily_tokens=5, team_monthly_cost_usd=3.0)
    over = refusal(Spent(5, 0, 0.0), limits, "U1", datetime(2026, 11, 30, 22, 30, tzinfo=timezone.utc))
    assert over.limit == "USER_DAILY_TOKEN_LIMIT" and over.sentence.endswith("(in 1 h 30 min).")
    over = refusal(Spent(0, 0, 3.0), limits, "U1", datetime(2026, 12, 31, 9, 0, tzinfo=timezone.utc))
    assert over.limit == "TEAM_MONTHLY_COST_LIMIT_USD" and over.sentence.endswith("until 1 January (UTC).")
    assert refusal(Spent(4, 0, 2.99), limits, "U1", late) is None


def test_only_allowed_users_are_answered_when_the_list_is_set(start_app, slack, model):
    app = start_app(ALLOWED_USER_IDS="U1,U2")
    ask(app, slack, "may I?", user="U3", answers=0)
    [note] = slack.wait_for(lambda s: s.ephemeral or None)
    assert note["user"] == "U3" and note["text"].startswith("Sorry, I'm not set up to answer you.")
    ask(app, slack, "and I?", user="U2", answers=1)
    assert len(model.wait_for_requests(1)) == 1


async def test_usage_under_the_old_key_names_is_renamed_once(redis_url, key_prefix):
    from bot.memory.connection import open_redis

    redis = await open_redis(redis_url)
    keys = Keys(key_prefix)
    ledger = Ledger(redis, keys, PriceTable({}))
    try:
        await redis.hset(f"{keys.base}:usage:T1:2026-11", mapping={"team:in": 5})
        await redis.hset(f"{keys.base}:usage:T1:2026-11-29", mapping={"team:in": 5})
        assert await ledger.adopt_old_keys(redis) == 2
        assert await redis.hget(usage_key(keys, "T1", "2026-11"), "team:in") == "5"
        assert await ledger.teams(redis) == ["T1"]
        # Done once: later start-ups do not scan again (an old-style key written now stays put).
        await redis.hset(f"{keys.base}:usage:T2:2026-11", mapping={"team:in": 1})
        assert await ledger.adopt_old_keys(redis) == 0
        assert await redis.exists(f"{keys.base}:usage:T2:2026-11")
    finally:
        await redis.aclose()
