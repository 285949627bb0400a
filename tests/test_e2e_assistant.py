"""Slack's assistant surface and the App Home tab."""

from __future__ import annotations

from pathlib import Path

from bot.memory.conversation import ConversationId
from bot.prompts import load_catalog

from .fakes.slack_api import TEAM_ID
from .harness import message, settled

ROOT = Path(__file__).resolve().parent.parent


def thread_started(channel: str = "D100", thread_ts: str = "1700000100.000100", viewing: str | None = "C100") -> dict:
    context = {"channel_id": viewing, "team_id": TEAM_ID, "enterprise_id": None} if viewing else {}
    return {"type": "assistant_thread_started", "event_ts": thread_ts,
            "assistant_thread": {"user_id": "U1", "context": context, "channel_id": channel, "thread_ts": thread_ts}}


def test_new_assistant_thread_gets_a_greeting_and_suggested_prompts_from_the_prompt_files(app, sender, slack, model):
    event = thread_started()
    assert sender.send_event(event, event_id="EvStart").status_code == 200
    assert sender.send_event(event, event_id="EvStart", retry_num=1).status_code == 200  # a retry: greeted once
    [greeting] = slack.wait_for(lambda s: s.posts("D100"))
    assert greeting.thread_ts == event["assistant_thread"]["thread_ts"] and "<@U1>" in greeting.text
    [suggested] = slack.wait_for(lambda s: s.calls_to("assistant.threads.setSuggestedPrompts"))
    catalog = load_catalog(ROOT / "prompts")
    prompts = suggested.params["prompts"]
    assert [p["title"] for p in prompts] == [s.title for s in catalog.suggestions()]
    assert 1 <= len(prompts) <= 4 and all(p["message"] for p in prompts)
    settled(app)  # no work left: nothing more can happen
    assert len(slack.posts("D100")) == 1
    assert model.requests == []

    stored = app.call(lambda: app.runtime.store.get_thread_context("D100", event["assistant_thread"]["thread_ts"]))
    assert stored["channel_id"] == "C100", "the thread context is kept in Redis"


def test_assistant_thread_message_is_answered_titled_and_knows_the_viewed_channel(app, sender, slack, model):
    thread_ts = "1700000200.000200"
    sender.send_event(thread_started(thread_ts=thread_ts, viewing="C100"))
    slack.wait_for(lambda s: s.posts("D100"))
    sender.send_event({**thread_started(thread_ts=thread_ts, viewing="C200"), "type": "assistant_thread_context_changed"})
    settled(app)  # no work left: nothing more can happen

    question = message("What is this channel about and what should I read first?", channel="D100", channel_type="im",
                       thread_ts=thread_ts)
    sender.send_event(question)
    answer = slack.wait_for(lambda s: [m for m in s.posts("D100") if m.text.startswith("Answer to:")])[0]
    assert answer.thread_ts == thread_ts
    [title] = slack.wait_for(lambda s: s.calls_to("assistant.threads.setTitle"))
    assert title.params["title"] == "What is this channel about and what should I read first?"
    system = model.requests[0].messages[0]["content"]
    assert "looking at #random" in system, "the context changed to C200"
    assert slack.calls_to("conversations.replies") == [], "a new assistant thread is not read back from Slack"

    sender.send_event(message("and then?", channel="D100", channel_type="im", thread_ts=thread_ts))
    app.wait_stored(ConversationId(TEAM_ID, "D100", thread_ts), 4)
    assert len(slack.calls_to("assistant.threads.setTitle")) == 1, "titled after its first message only"


def test_home_tab_shows_commands_and_the_viewers_usage(app, sender, slack, model):
    sender.send_event(message("hello there", channel="D100", channel_type="im"))
    slack.wait_for_answers(1)
    settled(app)  # no work left: nothing more can happen
    sender.send_event({"type": "app_home_opened", "user": "U1", "channel": "D100", "tab": "home", "event_ts": "1.1"})
    view = slack.wait_for(lambda s: s.home_views.get("U1"))
    assert view["type"] == "home"
    text = "\n".join(str(b.get("text", {}).get("text", "")) for b in view["blocks"])
    for command in ("/ask", "/summarize", "/translate", "/rewrite", "/assistant"):
        assert command in text
    usage = [line for line in text.splitlines() if line.startswith("• Today")]
    assert usage and "*0*" not in usage[0], "today's usage counts the answer just given"
    assert "*Channel settings*" in text and "`model` (one of `gpt-4o-mini`)" in text and "`auto_reply`" in text

    sender.send_event({"type": "app_home_opened", "user": "U2", "channel": "D200", "tab": "messages", "event_ts": "1.2"})
    settled(app)  # no work left: nothing more can happen
    assert "U2" not in slack.home_views, "the Messages tab publishes nothing"
