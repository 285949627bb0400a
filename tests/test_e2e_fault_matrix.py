"""The fault matrix: Slack, the model and Redis failing at each step of an answer.

Every cell asserts the same contract: the thread ends with exactly one complete
answer or one plain sentence, never a duplicate or a half answer left behind,
never internals; and the stored history is consistent with what was shown.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import pytest

from bot.memory.conversation import ConversationId
from bot.wording import MODEL_FAILED, MODEL_TIMED_OUT, MODEL_UNAVAILABLE

from .fakes.openai_api import Scripted
from .fakes.slack_api import TEAM_ID
from .fakes.tcp_proxy import TcpProxy
from .harness import mention, message, SlackSender
from .harness import settled as no_work_left

SENTENCES = {MODEL_FAILED, MODEL_TIMED_OUT, MODEL_UNAVAILABLE}
TEXT = "The answer comes in several words so that it streams for a while before it ends."

# Where each method takes part in an answer: a channel mention posts and updates
# (after the thinking status); a DM thread streams with Slack's streaming methods;
# a mention inside an unseen thread reads it once.
SURFACE = {
    "chat.postMessage": "channel",
    "chat.update": "channel",
    "assistant.threads.setStatus": "channel",
    "chat.startStream": "dm-thread",
    "chat.appendStream": "dm-thread",
    "chat.stopStream": "dm-thread",
    "conversations.replies": "unseen-thread",
}


def inject(slack, method: str, fault: str) -> None:
    if fault == "429":
        slack.fail_next(method, "ratelimited", status=429, retry_after=1)
    elif fault == "500":
        slack.fail_next(method, "internal_error", status=500)
    else:
        slack.slow_next(method, 3.0)  # past SLACK_TIMEOUT_SECONDS=1


def fault_hit(slack, method: str, fault: str) -> bool:
    """Whether the injected fault was consumed by a call (the fake takes it off its list when hit)."""
    pending = slack.slow.get(method) if fault == "timeout" else slack.failures.get(method)
    return pending == [] and any(c.method == method for c in slack.calls)


def send_for(surface: str, sender, slack) -> tuple[str, str, str]:
    """Send a question on ``surface``; (channel, thread of the answer, the answer expected)."""
    if surface == "channel":
        event = mention("fault please")
        sender.send_event(event)
        return "C100", event["ts"], TEXT
    if surface == "dm-thread":
        parent = "1600000000.000001"
        sender.send_event(message("fault please", channel="D100", channel_type="im", thread_ts=parent))
        return "D100", parent, TEXT
    parent = "1600000000.000009"
    slack.threads[("C100", parent)] = [{"type": "message", "user": "U2", "text": "earlier words", "ts": parent}]
    sender.send_event(mention("fault please", thread_ts=parent))
    return "C100", parent, TEXT


def settled(slack, channel: str, thread_ts: str, app, timeout: float = 20.0):
    """The thread's bot messages once nothing is streaming, updating or pending any more, and the
    app has no work left (a retry or a delayed clean-up would still be work)."""
    def ready(s):
        posts = [m for m in s.posts(channel) if m.thread_ts == thread_ts]
        if posts and all(not m.streaming and not m.text.startswith("_Thinking") and not m.text.endswith(" …") for m in posts):
            return posts
        return None

    posts = slack.wait_for(ready, timeout)
    no_work_left(app)
    return [m for m in slack.posts(channel) if m.thread_ts == thread_ts] or posts


@pytest.mark.parametrize("fault", ["429", "500", "timeout"])
@pytest.mark.parametrize("method", list(SURFACE))
def test_slack_fault_on_each_method_still_ends_with_one_complete_answer(start_app, slack, model, method, fault):
    app = start_app(SLACK_TIMEOUT_SECONDS=1)
    model.default = Scripted(text=TEXT, chunk_chars=6, delay=0.02)
    inject(slack, method, fault)
    sender = SlackSender(app.url)
    try:
        channel, thread_ts, expected = send_for(SURFACE[method], sender, slack)
        posts = settled(slack, channel, thread_ts, app)
    finally:
        sender.close()
    assert [m.text for m in posts] == [expected], f"{method} {fault}: one complete answer, nothing else"
    assert len(model.requests) == 1, "answered once"
    cid = ConversationId(TEAM_ID, channel, thread_ts)
    turns = app.wait_stored(cid, 2)
    assert [t.role for t in turns[-2:]] == ["user", "assistant"] and turns[-1].content == expected
    assert fault_hit(slack, method, fault), f"the {method} {fault} was really hit"


@pytest.mark.parametrize("failure", ["429", "500", "stall", "cut"])
def test_model_fault_gives_one_sentence_and_keeps_only_the_question(start_app, slack, model, failure):
    app = start_app(MODEL_IDLE_TIMEOUT_SECONDS=0.5)
    scripted = {
        "429": Scripted(status=429), "500": Scripted(status=500),
        "stall": Scripted(text=TEXT, chunk_chars=6, stall_after=3), "cut": Scripted(text=TEXT, chunk_chars=6, cut_after=3),
    }[failure]
    model.enqueue(scripted)
    sender = SlackSender(app.url)
    try:
        event = mention("fault please")
        sender.send_event(event)
        posts = settled(slack, "C100", event["ts"], app)
    finally:
        sender.close()
    assert len(posts) == 1 and posts[0].text in SENTENCES, [p.text for p in posts]
    assert "429" not in posts[0].text and "500" not in posts[0].text
    turns = app.wait_stored(ConversationId(TEAM_ID, "C100", event["ts"]), 1)
    no_work_left(app)  # no work left: nothing more can happen
    assert [t.role for t in app.stored(ConversationId(TEAM_ID, "C100", event["ts"]))] == ["user"], turns


def test_circuit_breaker_answers_at_once_while_the_model_is_down_then_probes(start_app, slack, model):
    app = start_app(MODEL_BREAKER_FAILURES=2, MODEL_BREAKER_COOLDOWN_SECONDS=1)
    model.enqueue(Scripted(status=503), Scripted(status=503))
    sender = SlackSender(app.url)
    try:
        for n in range(2):
            sender.send_event(mention(f"failing {n}", channel="C200"))
            slack.wait_for_answers(n + 1)
        started = time.monotonic()
        sender.send_event(mention("while open", channel="C200"))
        third = slack.wait_for_answers(3)[-1]
        assert third.text == MODEL_UNAVAILABLE and time.monotonic() - started < 1.0
        assert len(model.requests) == 2, "the model was not asked while the breaker was open"
        time.sleep(1.1)
        sender.send_event(mention("after the cooldown", channel="C200"))
        fourth = slack.wait_for_answers(4)[-1]
        assert fourth.text == "Answer to: alice: after the cooldown", "one probe went through and closed it"
    finally:
        sender.close()


def stored_roles(redis_url: str, key_prefix: str, cid: ConversationId) -> list[str]:
    """The stored turns' roles, read from Redis directly (not through the cuttable proxy)."""
    import redis

    from bot.memory.conversation import Keys, StoredMessage

    client = redis.Redis.from_url(redis_url)
    try:
        return [StoredMessage.from_json(raw).role for raw in client.lrange(Keys(key_prefix).messages(cid), 0, -1)]
    finally:
        client.close()


def wait_roles(redis_url: str, key_prefix: str, cid: ConversationId, count: int, timeout: float = 15) -> list[str]:
    deadline = time.monotonic() + timeout
    while len(roles := stored_roles(redis_url, key_prefix, cid)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return roles


@pytest.fixture
def redis_proxy(redis_url):
    target = urlsplit(redis_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    yield proxy, f"redis://127.0.0.1:{proxy.port}{target.path or '/0'}"
    proxy.stop()


def test_redis_down_mid_stream_and_back_gives_one_answer_stored_once(start_app, slack, model, redis_proxy, redis_url, key_prefix):
    proxy, url = redis_proxy
    app = start_app(REDIS_URL=url, LEASE_SECONDS=5)
    gate = threading.Event()
    model.enqueue(Scripted(text=TEXT, chunk_chars=6, delay=0.02, gate=gate))
    sender = SlackSender(app.url)
    try:
        event = mention("through an outage")
        sender.send_event(event)
        model.wait_for_requests(1)
        proxy.cut()
        gate.set()
        time.sleep(1.0)  # the answer streams and finishes while Redis is away
        proxy.restore()
        posts = settled(slack, "C100", event["ts"], app)
        assert [m.text for m in posts] == [TEXT]
        cid = ConversationId(TEAM_ID, "C100", event["ts"])
        assert wait_roles(redis_url, key_prefix, cid, 2) == ["user", "assistant"]
        no_work_left(app)  # no work left: nothing more can happen
        assert stored_roles(redis_url, key_prefix, cid) == ["user", "assistant"], "stored once"
        assert len(model.requests) == 1
    finally:
        sender.close()


def test_redis_down_after_delivery_never_overwrites_the_answer(start_app, slack, model, redis_proxy, redis_url, key_prefix):
    proxy, url = redis_proxy
    app = start_app(REDIS_URL=url, LEASE_SECONDS=5)
    model.enqueue(Scripted(text=TEXT, chunk_chars=200))
    # Redis goes away the moment the finished answer reaches Slack (its buttons are in the final update).
    original = slack.handle

    def cut_on_final(method, params, token):
        answer = original(method, params, token)
        if method == "chat.update" and "feedback_up" in str(params.get("blocks")):
            proxy.cut()
            threading.Timer(1.0, proxy.restore).start()
        return answer

    slack.handle = cut_on_final
    sender = SlackSender(app.url)
    try:
        event = mention("deliver then fail")
        sender.send_event(event)
        posts = settled(slack, "C100", event["ts"], app)
        assert [m.text for m in posts] == [TEXT], "the delivered answer stays; no 'memory unavailable'"
        cid = ConversationId(TEAM_ID, "C100", event["ts"])
        assert wait_roles(redis_url, key_prefix, cid, 2) == ["user", "assistant"], "stored once Redis is back"
        no_work_left(app)  # no work left: nothing more can happen
        assert stored_roles(redis_url, key_prefix, cid) == ["user", "assistant"]
        assert [m.text for m in slack.posts("C100") if m.thread_ts == event["ts"]] == [TEXT]
        assert len(model.requests) == 1
    finally:
        slack.handle = original
        sender.close()


def test_redis_down_after_accept_and_back_gives_one_answer(start_app, slack, model, redis_proxy, redis_url, key_prefix):
    proxy, url = redis_proxy
    app = start_app(REDIS_URL=url, LEASE_SECONDS=5)
    original = slack.handle
    cut = threading.Event()

    def cut_on_first_lookup(method, params, token):
        if method == "users.info" and not cut.is_set():  # the message is accepted and being prepared
            cut.set()
            proxy.cut()
            threading.Timer(1.0, proxy.restore).start()
        return original(method, params, token)

    slack.handle = cut_on_first_lookup
    sender = SlackSender(app.url)
    try:
        event = mention("accepted, then Redis left")
        sender.send_event(event)
        posts = settled(slack, "C100", event["ts"], app, timeout=30)
        assert cut.is_set()
        assert [m.text for m in posts] == ["Answer to: alice: accepted, then Redis left"]
        cid = ConversationId(TEAM_ID, "C100", event["ts"])
        assert wait_roles(redis_url, key_prefix, cid, 2) == ["user", "assistant"]
        assert len(model.requests) == 1
    finally:
        slack.handle = original
        sender.close()


def test_slack_down_when_the_answer_is_finished_posts_it_anew_later(start_app, slack, model, redis_url, key_prefix):
    app = start_app(SLACK_TIMEOUT_SECONDS=1)
    model.enqueue(Scripted(text=TEXT, chunk_chars=6, delay=0.02))
    original = slack.handle
    down_until: list[float] = []

    def down_after_first_text(method, params, token):
        if method in ("chat.postMessage", "chat.update", "chat.delete"):
            if down_until and time.monotonic() < down_until[0]:
                return 500, {"ok": False, "error": "internal_error"}, {}
            if method == "chat.update" and "feedback_up" in str(params.get("blocks")) and not down_until:
                down_until.append(time.monotonic() + 3.0)  # Slack fails from the final update on, for 3 s
                return 500, {"ok": False, "error": "internal_error"}, {}
        return original(method, params, token)

    slack.handle = down_after_first_text
    sender = SlackSender(app.url)
    try:
        event = mention("deliver me")
        sender.send_event(event)
        posts = settled(slack, "C100", event["ts"], app, timeout=30)
        assert down_until, "Slack really failed the final update"
        assert [m.text for m in posts] == [TEXT], "one complete answer, the stale partial removed"
        cid = ConversationId(TEAM_ID, "C100", event["ts"])
        assert wait_roles(redis_url, key_prefix, cid, 2) == ["user", "assistant"]
    finally:
        slack.handle = original
        sender.close()
