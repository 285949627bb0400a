"""Slack's streaming methods (chat.startStream / appendStream / stopStream) for thread replies."""

from __future__ import annotations

import threading
import time

import pytest

from bot.memory.conversation import ConversationId
from bot.wording import MODEL_TIMED_OUT

from .fakes.openai_api import Scripted
from .fakes.slack_api import TEAM_ID
from .harness import DONE_BUTTONS, mention, message, settled, SlackSender

THREAD = "1700000300.000300"


def dm_in_thread(text: str, thread_ts: str = THREAD, channel: str = "D100") -> dict:
    return message(text, channel=channel, channel_type="im", thread_ts=thread_ts)


def test_dm_thread_answer_streams_natively_and_ends_with_buttons(app, sender, slack, model):
    text = "Native streaming " * 20
    model.enqueue(Scripted(text=text, chunk_chars=10, delay=0.02))
    sender.send_event(dm_in_thread("stream natively"))
    [answer] = slack.wait_for_answers(1)
    assert answer.text == text and answer.thread_ts == THREAD
    assert answer.action_ids() == DONE_BUTTONS, "stopStream adds the buttons"
    [status] = slack.calls_to("assistant.threads.setStatus")
    [start] = slack.calls_to("chat.startStream")
    assert status.at < start.at
    assert start.params["recipient_user_id"] == "U1" and start.params["recipient_team_id"] == TEAM_ID
    assert slack.calls_to("chat.appendStream"), "text was appended as it arrived"
    assert len(slack.calls_to("chat.stopStream")) == 1
    assert slack.calls_to("chat.update") == [] and slack.calls_to("chat.postMessage") == []
    assert [e for e in slack.errors if e[0].startswith("chat.")] == []
    turns = app.wait_stored(ConversationId(TEAM_ID, "D100", THREAD), 2)
    assert turns[1].content == text and turns[1].ts == answer.ts


def test_channel_threads_stream_natively_when_asked(start_app, slack, model):
    app = start_app(SLACK_STREAMING="native")
    sender = SlackSender(app.url)
    try:
        event = mention("stream in the channel")
        sender.send_event(event)
        [answer] = slack.wait_for_answers(1)
        [start] = slack.calls_to("chat.startStream")
        assert start.params["channel"] == "C100" and start.params["thread_ts"] == event["ts"]
        assert start.params["recipient_user_id"] == "U1", "channels need the recipient"
        assert answer.text.startswith("Answer to:")
    finally:
        sender.close()


def test_streaming_off_posts_and_updates(start_app, slack, model):
    app = start_app(SLACK_STREAMING="off")
    sender = SlackSender(app.url)
    try:
        sender.send_event(dm_in_thread("no native stream"))
        slack.wait_for_answers(1)
        assert slack.calls_to("chat.startStream") == []
        assert slack.calls_to("chat.postMessage")
    finally:
        sender.close()


def test_refused_stream_falls_back_to_post_and_update(app, sender, slack, model):
    slack.fail_next("chat.startStream", "not_allowed_token_type")
    text = "Fallback answer " * 10
    model.enqueue(Scripted(text=text, chunk_chars=10, delay=0.01))
    sender.send_event(dm_in_thread("refuse the stream"))
    [answer] = slack.wait_for_answers(1)
    assert answer.text == text and answer.action_ids() == DONE_BUTTONS
    assert slack.calls_to("chat.postMessage")


@pytest.mark.parametrize("interval", ["0.05", "30"], ids=["appended-as-it-streams", "whole-answer-before-any-append"])
def test_long_native_answer_continues_in_follow_ups_without_loss(start_app, slack, model, interval):
    # With a long interval nothing is appended after the stream starts: the start itself
    # must end with a whole code line, or the follow-ups would split one.
    app = start_app(STREAM_UPDATE_INTERVAL_SECONDS=interval)
    sender = SlackSender(app.url)
    text = "Intro.\n\n```python\n" + "".join(f"print({n})  # {'x' * 40}\n" for n in range(600)) + "```\n\nThe end."
    assert len(text) > 30_000
    model.enqueue(Scripted(text=text, chunk_chars=400, delay=0.005))
    try:
        sender.send_event(dm_in_thread("a very long answer"))
    finally:
        sender.close()
    cid = ConversationId(TEAM_ID, "D100", THREAD)
    turns = app.wait_stored(cid, 2, timeout=20)
    assert turns[1].content == text
    posts = slack.posts("D100")
    assert len(posts) >= 3 and [e for e in slack.errors if e[0].startswith("chat.")] == [], "within the limits"
    assert all(not p.streaming for p in posts)
    for post in posts:
        assert post.text.count("```") % 2 == 0, "code fences are closed and reopened across messages"
    code_lines = [line for p in posts for line in p.text.split("\n") if line.startswith("print(")]
    assert code_lines == [line for line in text.split("\n") if line.startswith("print(")]
    assert posts[-1].action_ids() == DONE_BUTTONS and all(p.action_ids() == [] for p in posts[:-1])


def test_model_failure_mid_stream_ends_the_stream_with_one_sentence(start_app, slack, model):
    app = start_app(MODEL_IDLE_TIMEOUT_SECONDS=1)
    sender = SlackSender(app.url)
    try:
        model.enqueue(Scripted(text="partial words " * 50, chunk_chars=10, delay=0.01, stall_after=5))
        sender.send_event(dm_in_thread("this will stall"))
        [answer] = slack.wait_for_answers(1, timeout=10, final=lambda t: t == MODEL_TIMED_OUT)
    finally:
        sender.close()
    assert slack.calls_to("chat.stopStream"), "the stream was ended"
    settled(app)  # no work left: nothing more can happen
    assert [t.role for t in app.stored(ConversationId(TEAM_ID, "D100", THREAD))] == ["user"], "nothing of it stored"


def test_stream_starts_keep_to_their_tier_and_every_answer_completes(start_app, slack, model):
    slack.rate_limits["chat.startStream"] = 20  # Tier 2, per workspace
    app = start_app()
    sender = SlackSender(app.url)
    text = "Streaming " * 30
    model.default = Scripted(text=text, chunk_chars=20, delay=0.02)
    try:
        threads = [threading.Thread(target=sender.send_event, args=(dm_in_thread(f"q{n}", channel=f"D{n:03d}"),))
                   for n in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        slack.wait_for(lambda s: all(any(m.text == text for m in s.posts(f"D{n:03d}")) for n in range(30)), timeout=30)
    finally:
        sender.close()
    assert slack.rate_limited.get("chat.startStream", 0) == 0
    assert len(slack.calls_to("chat.startStream")) == 20, "the rest were posted and updated instead"


def test_an_agent_session_shows_slacks_stop_which_stops_a_streamed_answer(app, sender, slack, model):
    slack.agent_sessions = True
    gate = threading.Event()
    model.enqueue(Scripted(text="word " * 400, chunk_chars=5, delay=0.01, gate=gate))
    sender.send_event(dm_in_thread("a long one"))
    [processing] = slack.wait_for(lambda s: s.calls_to("agents.sessions.setStatus"))
    assert processing.params == {"channel_id": "D100", "thread_ts": THREAD, "status": "processing", "initiator_user_id": "U1"}
    assert slack.calls_to("assistant.threads.setStatus") == []  # the session shows Slack's own loading indicator
    gate.set()
    stream = slack.wait_for(lambda s: next((m for m in s.messages.values() if m.streaming and len(m.text) > 20), None))
    stopped = {"type": "agent_session_stopped", "channel": "D100", "thread_ts": THREAD, "user": "U1",
               "streaming_message_ts": [stream.ts], "event_ts": f"{time.time():.6f}"}
    assert sender.send_event(stopped).status_code == 200
    [answer] = slack.wait_for_answers(1, final=lambda t: t.endswith("_(stopped)_"))
    assert len(answer.text) < len("word " * 400)
    slack.wait_for(lambda s: s.sessions.get(("D100", THREAD)) == "active")  # no longer processing once done


def test_slacks_stop_before_any_text_stops_the_answer_by_its_thread(app, sender, slack, model):
    slack.agent_sessions = True
    gate = threading.Event()
    model.enqueue(Scripted(text="never shown", gate=gate))
    sender.send_event(dm_in_thread("stop me early"))
    slack.wait_for(lambda s: s.calls_to("agents.sessions.setStatus"))
    model.wait_for_requests(1)
    stopped = {"type": "agent_session_stopped", "channel": "D100", "thread_ts": THREAD, "user": "U1",
               "streaming_message_ts": [], "event_ts": f"{time.time():.6f}"}
    assert sender.send_event(stopped).status_code == 200
    [answer] = slack.wait_for_answers(1, final=lambda t: t == "_(stopped)_")
    gate.set()
    slack.wait_for(lambda s: s.sessions.get(("D100", THREAD)) == "active")
    assert "never shown" not in answer.text


def test_without_agent_sessions_the_thinking_status_is_used(app, sender, slack, model):
    sender.send_event(dm_in_thread("hello"))
    slack.wait_for_answers(1)
    assert [c.params["status"] for c in slack.calls_to("assistant.threads.setStatus")] == ["is thinking…"]
    assert [e for e in slack.errors if e[0] == "agents.sessions.setStatus"] == [("agents.sessions.setStatus", "not_allowed")]
    sender.send_event(dm_in_thread("again", thread_ts="1700000400.000400"))
    slack.wait_for_answers(2)
    assert len(slack.calls_to("agents.sessions.setStatus")) == 1  # not asked again for a while
