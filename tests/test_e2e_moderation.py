"""MODERATION: flagged messages get one private sentence and no model call; flagged answers
are never shown, not even in part; the moderations endpoint failing never stops the bot."""

from __future__ import annotations

import re

from bot.memory.conversation import ConversationId
from bot.slack.reply import CURSOR
from bot.wording import FLAGGED_ANSWER, FLAGGED_INPUT

from .fakes.openai_api import Scripted
from .fakes.slack_api import TEAM_ID
from .harness import SlackSender, command_reply, eventually, mention, settled


def metric(app, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", app.runtime.core.metrics.exposition().decode(), re.M)
    return float(found.group(1)) if found else 0.0


def shown_texts(slack) -> list[str]:
    """Every text the bot put in a channel: posts and updates."""
    return [str(call.params.get("text") or "") + str(call.params.get("markdown_text") or "")
            for call in slack.calls if call.method in ("chat.postMessage", "chat.update", "chat.startStream",
                                                       "chat.appendStream", "chat.stopStream")]


def test_a_flagged_message_gets_a_private_sentence_and_no_model_call(start_app, slack, model):
    app = start_app(MODERATION="input")
    sender = SlackSender(app.url)
    try:
        sender.send_event(mention("tell me how to FLAGME someone"))
        eventually(lambda: slack.ephemeral, "the private sentence")
        settled(app)
        assert [note["text"] for note in slack.ephemeral] == [FLAGGED_INPUT]
        assert slack.ephemeral[0]["user"] == "U1"
        assert model.requests == [] and not slack.messages, "nothing shown in the channel, no model call"
        assert metric(app, 'assistant_moderation_flags_total{category="violence",direction="input"}') == 1.0
        [moderation] = model.moderations
        assert moderation["model"] == "omni-moderation-latest" and "FLAGME" in moderation["input"]
        [entry] = [e for e in app.call(lambda: app.runtime.core.audit.read()) if e.action == "moderation.flagged"]
        assert entry.details == {"channel": "C100", "direction": "input", "categories": "violence"}

        event = mention("what is the capital of France?")  # the next message is answered as always
        sender.send_event(event)
        [answer] = slack.wait_for_answers(1)
        assert answer.text.startswith("Answer to:")
        turns = app.wait_stored(ConversationId(TEAM_ID, "C100", event["ts"]), 2)
        assert "FLAGME" not in " ".join(t.content for t in turns)
    finally:
        sender.close()


def test_a_flagged_answer_is_never_shown_even_in_part(start_app, slack, model):
    app = start_app(MODERATION="output", STREAM_UPDATE_INTERVAL_SECONDS=0.05)
    clean = " ".join(f"word{n}" for n in range(60))
    model.enqueue(Scripted(text=f"{clean} and then FLAGME at the end.", chunk_chars=12, delay=0.02))
    sender = SlackSender(app.url)
    try:
        event = mention("write something long", thread_ts=None)
        sender.send_event(event)
        [answer] = slack.wait_for_answers(1, final=lambda text: text == FLAGGED_ANSWER)
        settled(app)
    finally:
        sender.close()
    assert not [text for text in shown_texts(slack) if "FLAGME" in text]
    assert len(model.moderations) >= 2, "updates were checked as the answer streamed, then the whole answer"
    [*_, turn] = app.wait_stored(ConversationId(TEAM_ID, "C100", event["ts"]), 2)
    assert turn.content == FLAGGED_ANSWER
    assert metric(app, 'assistant_moderation_flags_total{category="violence",direction="output"}') >= 1.0


def test_streamed_updates_show_only_checked_text(start_app, slack, model):
    app = start_app(MODERATION="both", STREAM_UPDATE_INTERVAL_SECONDS=0.05)
    text = " ".join(f"part{n}" for n in range(80))
    model.enqueue(Scripted(text=text, chunk_chars=10, delay=0.02))
    sender = SlackSender(app.url)
    try:
        sender.send_event(mention("stream please"))
        [answer] = slack.wait_for_answers(1, final=lambda shown: shown == text)
        settled(app)
    finally:
        sender.close()
    updates = [call for call in slack.calls if call.method in ("chat.postMessage", "chat.update")
               and str(call.params.get("text") or "").startswith("part") and call.params["text"] != text]
    assert len(updates) >= 2, "the answer streamed in several updates"
    for update in updates:  # each partial text was checked, and the check answered, before Slack was asked
        shown = str(update.params["text"]).removesuffix(CURSOR)
        assert any(m["input"] == shown and m["answered_at"] <= update.at for m in model.moderations), \
            f"shown before it was checked: {shown[-30:]!r}"


def test_the_endpoint_failing_lets_messages_and_answers_through(start_app, slack, model):
    model.moderation_status = 500
    app = start_app(MODERATION="both", MODEL_MAX_RETRIES=0)
    sender = SlackSender(app.url)
    try:
        sender.send_event(mention("hello there"))
        [answer] = slack.wait_for_answers(1)
        settled(app)
    finally:
        sender.close()
    assert answer.text.startswith("Answer to:")
    assert metric(app, 'assistant_moderation_flags_total{category="unchecked",direction="input"}') == 1.0


def test_a_flagged_command_is_refused_privately(start_app, slack, model):
    reply = command_reply(start_app(MODERATION="input"), slack, "/ask", "FLAGME now")
    assert reply["text"] == FLAGGED_INPUT and reply["response_type"] == "ephemeral"
    assert model.requests == []
