"""Bad input: a 4xx or a normal answer, never a crash, and the app keeps working afterwards."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.memory.conversation import ConversationId

from .fakes.slack_api import TEAM_ID
from .harness import mention, settled, SlackSender

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
EVENT_KEYS = ["type", "user", "text", "ts", "channel", "thread_ts", "channel_type", "subtype", "bot_id", "team",
              "message", "previous_message", "event_ts", "files", "blocks"]


@pytest.fixture(scope="module")
def shared_app(slack_module, model_module, single_redis_url, tiktoken_cache):
    """One app for all fuzzed examples (starting one per example would take minutes)."""
    redis_url = single_redis_url
    import uuid

    from .harness import AppInstance, delete_prefix, make_settings

    prefix = f"test-fuzz-{uuid.uuid4().hex[:8]}"
    app = AppInstance(make_settings(
        SLACK_API_URL=slack_module.base_url, OPENAI_BASE_URL=model_module.base_url, REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=prefix, TIKTOKEN_CACHE_DIR=tiktoken_cache,
    )).start()
    sender = SlackSender(app.url)
    yield app, sender
    sender.close()
    app.stop()
    delete_prefix(redis_url, prefix)


@pytest.fixture(scope="module")
def slack_module():
    from .fakes.slack_api import FakeSlack

    fake = FakeSlack().start()
    fake.users.update({"U1": "alice"})
    fake.channels.update({"C100": "general"})
    fake.rate_limits.clear()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def model_module():
    from .fakes.openai_api import FakeModel

    fake = FakeModel().start()
    yield fake
    fake.stop()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=st.dictionaries(st.sampled_from(EVENT_KEYS), JSON_VALUES, max_size=10),
       envelope=st.dictionaries(st.sampled_from(["team_id", "event_id", "type", "authorizations"]), JSON_VALUES, max_size=3))
def test_fuzzed_signed_events_get_2xx_or_4xx_never_5xx(shared_app, event, envelope):
    app, sender = shared_app
    body = {**SlackSender.envelope({"type": "message", **event}), **envelope}
    response = sender.post(json.dumps(body).encode())
    assert response.status_code < 500, response.text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=st.dictionaries(st.sampled_from(["command", "text", "user_id", "channel_id", "team_id", "response_url",
                                              "payload", "trigger_id"]), st.text(max_size=60), max_size=8))
def test_fuzzed_signed_commands_and_actions_get_2xx_or_4xx_never_5xx(shared_app, form):
    app, sender = shared_app
    response = sender.post(urlencode(form).encode(), content_type="application/x-www-form-urlencoded")
    assert response.status_code < 500, response.text


def test_the_app_still_answers_after_the_fuzzing(shared_app, slack_module):
    app, sender = shared_app
    event = mention("still there?")
    sender.send_event(event)
    slack_module.wait_for(lambda s: any(m.thread_ts == event["ts"] and m.text == "Answer to: alice: still there?"
                                        for m in s.posts()), timeout=15)


def test_a_chunked_oversized_body_is_refused_without_buffering_it(app, sender):
    def chunks():
        for _ in range(64):
            yield b"x" * 65536  # 4 MiB in all, with no Content-Length

    response = httpx.post(f"{app.url}/slack/events", content=chunks(), headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 413
    assert sender.send_event(mention("and a normal one")).status_code == 200


def test_a_100000_character_message_is_answered_within_the_budget(app, sender, slack, model):
    event = mention("start " + "lorem ipsum " * 8_400 + " end")
    assert sender.send_event(event).status_code == 200
    [answer] = slack.wait_for_answers(1, timeout=20)
    assert answer.text.startswith("Answer to:")
    content = model.requests[0].last_user_text
    assert "start" in content and content.endswith("end") and len(content) < 100_000, "shortened head and tail"
    app.wait_stored(ConversationId(TEAM_ID, "C100", event["ts"]), 2)


def test_odd_unicode_is_answered_normally(app, sender, slack, model):
    odd = "zero\u200bwidth \u202eright-to-left\u202c e\u0301 🧑🏽‍💻 \ud7ff \U0010fffd \x00 nul"
    event = mention(odd)
    sender.send_event(event)
    [answer] = slack.wait_for_answers(1)
    assert answer.text.startswith("Answer to:")
    settled(app)  # no work left: nothing more can happen
