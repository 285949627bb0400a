"""Slack's agent view (the default AI surface since 2026): the Messages tab greets once and sets
suggested prompts, what the user looks at comes from ``app_context_changed`` (per user), and
each top-level DM message starts a conversation of its own, continued in its thread."""

from __future__ import annotations

from pathlib import Path

from bot.memory.conversation import ConversationId
from bot.prompts import load_catalog

from .fakes.openai_api import Scripted
from .fakes.slack_api import TEAM_ID
from .harness import message, settled

ROOT = Path(__file__).resolve().parent.parent


def messages_tab_opened(user: str = "U1", channel: str = "D100") -> dict:
    return {"type": "app_home_opened", "user": user, "channel": channel, "tab": "messages", "event_ts": "1700000000.000001"}


def context_changed(viewing: str | None, user: str = "U1", channel: str | None = None) -> dict:
    """What Slack sends when the user looks at something else beside the agent (``{}``: nothing)."""
    context = {"entities": [{"type": "slack#/types/channel_id", "value": viewing}]} if viewing else {}
    event = {"type": "app_context_changed", "user": user, "context": context, "event_ts": "1700000000.000002"}
    return {**event, "channel": channel} if channel else event


def dm(text: str, **kwargs) -> dict:
    return message(text, channel="D100", channel_type="im", **kwargs)


def test_opening_the_messages_tab_greets_once_and_sets_the_suggested_prompts(app, sender, slack, model):
    assert sender.send_event(messages_tab_opened(), event_id="EvOpen1").status_code == 200
    [greeting] = slack.wait_for(lambda s: s.posts("D100"))
    assert greeting.thread_ts is None and "<@U1>" in greeting.text
    sender.send_event(messages_tab_opened(), event_id="EvOpen2")  # opened again later: no second greeting
    calls = slack.wait_for(lambda s: s.calls_to("assistant.threads.setSuggestedPrompts")
                           if len(s.calls_to("assistant.threads.setSuggestedPrompts")) == 2 else None)
    catalog = load_catalog(ROOT / "prompts")
    for call in calls:
        assert call.params["channel_id"] == "D100" and "thread_ts" not in call.params
        assert [p["title"] for p in call.params["prompts"]] == [s.title for s in catalog.suggestions()]
    settled(app)  # no work left: nothing more can happen
    assert len(slack.posts("D100")) == 1 and model.requests == []
    assert "U1" not in slack.home_views, "the Messages tab publishes no Home view"


def test_each_top_level_message_is_its_own_conversation_continued_in_its_thread(app, sender, slack, model):
    first, second = dm("Where do we deploy the billing service?"), dm("Write a haiku about Mondays")
    sender.send_event(first)
    [answer] = slack.wait_for_answers(1)
    assert answer.thread_ts == first["ts"], "the answer starts the message's thread"
    sender.send_event(second)
    answers = slack.wait_for_answers(2)
    assert answers[1].thread_ts == second["ts"]
    assert "billing" not in str(model.requests[1].messages), "a new top-level message starts afresh"

    sender.send_event(dm("and who owns it?", thread_ts=first["ts"]))
    slack.wait_for_answers(3)
    follow_up = str(model.wait_for_requests(3)[2].messages)
    assert "billing service" in follow_up and "haiku" not in follow_up, "a reply continues its own thread"
    app.wait_stored(ConversationId(TEAM_ID, "D100", first["ts"]), 4)
    assert slack.calls_to("conversations.replies") == [], "a new thread is not read back from Slack"
    titles = slack.wait_for(lambda s: s.calls_to("assistant.threads.setTitle")
                            if len(s.calls_to("assistant.threads.setTitle")) == 2 else None)
    assert sorted(t.params["thread_ts"] for t in titles) == sorted([first["ts"], second["ts"]])
    settled(app)
    assert len(slack.calls_to("assistant.threads.setTitle")) == 2, "each thread is titled once"


def test_the_viewed_channel_comes_from_app_context_changed_per_user(app, sender, slack, model):
    sender.send_event(messages_tab_opened())
    slack.wait_for(lambda s: s.posts("D100"))
    sender.send_event(context_changed("C200"))  # no channel in the event: the user's DM is known from the tab
    settled(app)
    sender.send_event(dm("What is this channel about?"))
    slack.wait_for_answers(2)
    assert "looking at #random" in model.requests[0].messages[0]["content"]

    sender.send_event(context_changed(None))  # looking at nothing now
    settled(app)
    sender.send_event(dm("And now?"))
    slack.wait_for_answers(3)
    assert "looking at" not in model.wait_for_requests(2)[1].messages[0]["content"]

    sender.send_event(context_changed("C100", user="U2", channel="D200"))  # another user's view is theirs alone
    settled(app)
    sender.send_event(dm("Which one?"))
    slack.wait_for_answers(4)
    assert "looking at" not in model.wait_for_requests(3)[2].messages[0]["content"]


def test_regenerate_and_ratings_work_in_an_agent_thread(app, sender, slack, model):
    slack.agent_sessions = True  # an agent thread is an agent session
    model.enqueue(Scripted(text="A poor answer."), Scripted(text="A better answer."))
    question = dm("Summarise our on-call policy")
    sender.send_event(question)
    [answer] = slack.wait_for_answers(1)
    assert any(b.get("type") == "actions" for b in answer.blocks or []), "the answer carries its buttons"
    sender.send_action("regenerate_answer", answer, response_url=slack.response_url("regen"))
    slack.wait_for(lambda s: s.messages[(answer.channel, answer.ts)].text == "A better answer.")
    first, again = model.wait_for_requests(2)
    assert str(first.messages) == str(again.messages), "the same conversation is asked again"
    regenerated = slack.messages[(answer.channel, answer.ts)]
    assert regenerated.thread_ts == question["ts"]
    settled(app)
    sender.send_action("feedback_up", regenerated, response_url=slack.response_url("up"))
    slack.wait_for_response("up")
    settled(app)
    assert slack.errors == []
    assert slack.sessions[("D100", question["ts"])] == "active", "the thread's agent session ends idle, not processing"
