"""Direct messages under the split view (SLACK_AGENT_SURFACE=assistant_view, for apps created
before agent view): answered without a mention, a DM's top-level messages one running
conversation.  Agent view, where each top-level message starts its own thread, is in
test_e2e_agent_view.py."""

from __future__ import annotations

import time

import pytest

from bot.memory.conversation import ConversationId

from .fakes.slack_api import TEAM_ID
from .harness import SlackSender, message


@pytest.fixture
def app(start_app):
    return start_app(SLACK_AGENT_SURFACE="assistant_view")


def dm(text: str, **kwargs):
    return message(text, channel="D100", channel_type="im", **kwargs)


def test_direct_messages_are_answered_top_level_and_keep_context(app, sender, slack, model):
    sender.send_event(dm("my name is Alice"))
    [first] = slack.wait_for_answers(1)
    assert first.channel == "D100" and first.thread_ts is None

    sender.send_event(dm("what is my name?"))
    slack.wait_for_answers(2)
    history = model.requests[1].messages[:1] + model.requests[1].dialogue
    assert "a direct message" in history[0]["content"]
    assert [m["content"] for m in history[1:]] == [
        "my name is Alice", "Answer to: my name is Alice", "what is my name?",
    ], "a DM's top-level messages are one running conversation, without speaker prefixes"


def test_a_thread_in_a_dm_is_its_own_conversation(app, sender, slack, model):
    parent = dm("top level")
    sender.send_event(parent)
    slack.wait_for_answers(1)
    slack.threads[("D100", parent["ts"])] = [{"type": "message", "user": "U1", "text": "top level", "ts": parent["ts"]}]

    sender.send_event(dm("in a thread", thread_ts=parent["ts"]))
    answers = slack.wait_for_answers(2)
    assert answers[1].thread_ts == parent["ts"]
    # Consecutive messages of people are one user turn (strict chat templates alternate turns).
    assert [m["content"] for m in model.requests[1].dialogue] == ["top level\n\nin a thread"]


def test_top_level_dm_starts_fresh_after_the_idle_cut_off(start_app, slack, model):
    app = start_app(DM_IDLE_RESET_MINUTES=1, SLACK_AGENT_SURFACE="assistant_view")

    sender = SlackSender(app.url)
    try:
        sender.send_event(dm("old topic"))
        slack.wait_for_answers(1)
        # Pretend the last activity was two minutes ago.
        cid = ConversationId(TEAM_ID, "D100", ConversationId.TOP_LEVEL_DM)
        app.wait_stored(cid, 2)
        store = app.runtime.store
        app.call(lambda: store.redis.hset(store.keys.meta(cid), "last_active", repr(time.time() - 120)))
        sender.send_event(dm("new topic"))
        slack.wait_for_answers(2)
        assert [m["content"] for m in model.requests[1].dialogue] == ["new topic"]
    finally:
        sender.close()
