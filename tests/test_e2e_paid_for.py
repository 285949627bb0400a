"""Every model request is paid for: a failed, stopped or cut answer's requests (tool rounds
included) are in the ledger and count against quotas; edits and regenerations count
against the per-person flood limit."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.memory.conversation import ConversationId

from .fakes.openai_api import Scripted
from .fakes.slack_api import TEAM_ID
from .harness import SlackSender, edited, eventually, mention


def user_tokens_today(app, user: str = "U1", channel: str = "C100") -> int:
    core = app.runtime.core
    now = datetime.now(timezone.utc)
    return app.call(lambda: core.ledger.spent(core.store.redis, TEAM_ID, channel, user, now)).user_day_tokens


def send(app, event) -> None:
    sender = SlackSender(app.url)
    try:
        assert sender.send_event(event).status_code == 200
    finally:
        sender.close()


def test_an_answer_cut_after_a_tool_round_is_billed_and_counts_against_the_daily_limit(start_app, slack, model):
    app = start_app(DEFAULT_TOOLS="current_time", USER_DAILY_TOKEN_LIMIT=1100)
    model.enqueue(Scripted(tool_calls=[("current_time", "{}")], usage=(1000, 0, 20)),
                  Scripted(text="A long answer that never ends " * 10, cut_after=3))
    event = mention("what time is it?")
    send(app, event)
    slack.wait_for(lambda s: [m for m in s.messages.values() if "couldn't get an answer" in m.text], timeout=20)
    app.wait_stored(ConversationId(TEAM_ID, "C100", event["ts"]), 1)
    spent = user_tokens_today(app)
    # The tool round as reported (1,020), the cut request by our own count (its prompt and what it wrote).
    assert spent > 1020 + 100, spent
    # Past the limit only with the cut request: the next question gets the quota sentence and no model request.
    send(app, mention("again?"))
    slack.wait_for(lambda s: [e for e in s.ephemeral if "tokens for today" in e.get("text", "")])
    assert len(model.requests) == 2


def test_a_stopped_answer_is_billed(app, sender, slack, model):
    model.enqueue(Scripted(text="word " * 400, delay=0.05, chunk_chars=5))
    event = mention("write a lot")
    sender.send_event(event)
    answer = slack.wait_for(lambda s: [m for m in s.messages.values() if "word" in m.text])[0]
    sender.send_action("stop_answer", answer, response_url=slack.response_url("s"))
    slack.wait_for(lambda s: "(stopped)" in s.messages[(answer.channel, answer.ts)].text, timeout=15)
    app.wait_stored(ConversationId(TEAM_ID, "C100", event["ts"]), 2)
    assert user_tokens_today(app) > 0


def test_a_model_that_never_answers_bills_nothing(start_app, slack, model):
    app = start_app()
    model.enqueue(Scripted(status=500), Scripted(status=500), Scripted(status=500))
    event = mention("hello?")
    send(app, event)
    app.wait_stored(ConversationId(TEAM_ID, "C100", event["ts"]), 1)
    assert user_tokens_today(app) == 0


def test_edits_and_regenerations_count_against_the_flood_limit(start_app, slack, model):
    app = start_app(USER_MESSAGES_PER_MINUTE=2)
    sender = SlackSender(app.url)
    try:
        event = mention("capital of Frnace?")
        sender.send_event(event)
        [answer] = slack.wait_for_answers(1)
        sender.send_event(edited(event, event["text"].replace("Frnace", "France")))
        slack.wait_for(lambda s: "France" in s.messages[(answer.channel, answer.ts)].text)
        cid = ConversationId(TEAM_ID, "C100", event["ts"])
        eventually(lambda: "France" in app.stored(cid)[-1].content, "the edit's answer stored")  # the edit's answer is stored: the latest
        sender.send_action("regenerate_answer", answer, response_url=slack.response_url("g"))
        slack.wait_for(lambda s: [e for e in s.ephemeral if "faster than I can answer" in e.get("text", "")])
    finally:
        sender.close()
    assert len(model.requests) == 2  # the message and its edit; the regeneration was over the limit
