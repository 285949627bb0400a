"""When the model or Slack fails: one plain sentence, clean history, and the next turn works."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx

from bot.memory.conversation import ConversationId
from bot.wording import MODEL_FAILED, MODEL_TIMED_OUT, STORE_FAILED

from .fakes.openai_api import Scripted
from .fakes.slack_api import TEAM_ID
from .fakes.tcp_proxy import TcpProxy
from .harness import SlackSender, mention, message, said


def test_model_error_gives_one_sentence_and_clean_history(app, sender, slack, model):
    model.enqueue(Scripted(status=500))
    first = mention("will this fail?")
    sender.send_event(first)
    [answer] = slack.wait_for_answers(1)
    assert answer.text == MODEL_FAILED
    assert "500" not in answer.text and "Error" not in answer.text

    turns = app.wait_stored(ConversationId(TEAM_ID, "C100", first["ts"]), 1)
    assert [t.role for t in turns] == ["user"], "nothing of the failed turn is stored as an assistant message"

    sender.send_event(message("try again", thread_ts=first["ts"]))
    answers = slack.wait_for_answers(2)
    assert answers[1].text == "Answer to: alice: try again"
    assert model.requests[1].dialogue == [{"role": "user", "content": said("will this fail?") + "\n\n" + said("try again")}], \
        "the failed question and the new one: one user turn, each with its speaker"


def test_sdk_retries_transient_model_errors_before_giving_up(start_app, slack, model):
    app = start_app(MODEL_MAX_RETRIES=1)

    sender = SlackSender(app.url)
    try:
        model.enqueue(Scripted(status=503))
        sender.send_event(mention("flaky"))
        [answer] = slack.wait_for_answers(1, timeout=15)
        assert answer.text == "Answer to: alice: flaky"
        assert len(model.requests) == 2
    finally:
        sender.close()


def test_stalled_stream_times_out_with_a_sentence(start_app, slack, model):
    app = start_app(MODEL_IDLE_TIMEOUT_SECONDS=0.5)

    sender = SlackSender(app.url)
    try:
        model.enqueue(Scripted(text="this will stall after a bit of text", chunk_chars=4, stall_after=2))
        started = time.monotonic()
        first = mention("stall please")
        sender.send_event(first)
        [answer] = slack.wait_for_answers(1, timeout=10)
        assert answer.text == MODEL_TIMED_OUT
        assert time.monotonic() - started < 8

        sender.send_event(message("again", thread_ts=first["ts"]))
        answers = slack.wait_for_answers(2)
        assert answers[1].text == "Answer to: alice: again"
    finally:
        sender.close()


def test_total_model_deadline_is_enforced(start_app, slack, model):
    app = start_app(MODEL_TIMEOUT_SECONDS=0.8, MODEL_IDLE_TIMEOUT_SECONDS=5)

    sender = SlackSender(app.url)
    try:
        model.enqueue(Scripted(text="slow " * 40, chunk_chars=5, delay=0.1))
        sender.send_event(mention("slowly"))
        [answer] = slack.wait_for_answers(1, timeout=10)
        assert answer.text == MODEL_TIMED_OUT
    finally:
        sender.close()


def test_slack_rate_limit_on_post_is_retried(app, sender, slack, model):
    slack.fail_next("chat.postMessage", "ratelimited", status=429, retry_after=1)
    sender.send_event(mention("busy workspace"))
    [answer] = slack.wait_for_answers(1, timeout=10)
    assert answer.text == "Answer to: alice: busy workspace"
    assert len(slack.calls_to("chat.postMessage")) == 2


def test_slack_refusing_the_post_abandons_the_answer(app, sender, slack, model):
    # The model is asked while the status or placeholder goes out (not after it): when
    # Slack refuses both, the answer is dropped before anything is shown.
    model.enqueue(Scripted(text="never shown", chunk_chars=4, delay=0.05))
    slack.fail_next("assistant.threads.setStatus", "not_in_channel")
    slack.fail_next("chat.postMessage", "not_in_channel")
    first = mention("can you see me?")
    sender.send_event(first)
    turns = app.wait_stored(ConversationId(TEAM_ID, "C100", first["ts"]), 1)
    assert [t.role for t in turns] == ["user"], "the question is kept; no answer was given"
    assert len(model.requests) == 1
    assert all("never shown" not in m.text for m in slack.posts())
    assert slack.calls_to("chat.postMessage") and not slack.posts(), "nothing was shown"


def test_secrets_never_reach_the_logs(start_app, slack, model, caplog):
    caplog.set_level("DEBUG")
    app = start_app()

    sender = SlackSender(app.url)
    try:
        model.enqueue(Scripted(status=500))
        sender.send_event(mention("fail and log"))
        slack.wait_for_answers(1)
    finally:
        sender.close()
    text = caplog.text
    assert "xoxb-test-token" not in text and "test-signing-secret" not in text and "sk-test" not in text
    assert "model failed" in text


def test_redis_outage_gets_503s_then_a_sentence_and_recovery_works(start_app, redis_url, slack, model):
    target = urlsplit(redis_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    app = start_app(REDIS_URL=f"redis://127.0.0.1:{proxy.port}{target.path or '/0'}")
    sender = SlackSender(app.url)
    try:
        proxy.cut()
        # Not ready (out of the Service) but alive: a Redis outage is not cured by restarting the bot.
        assert httpx.get(f"{app.url}/healthz", timeout=10).status_code == 503
        assert httpx.get(f"{app.url}/livez", timeout=10).status_code == 200
        event = mention("is anyone home?")
        # The event cannot be kept, so it is not acknowledged: Slack sends it again (three more times).
        assert [sender.send_event(event, retry_num=n).status_code for n in (None, 1, 2)] == [503, 503, 503]
        assert sender.send_event(event, retry_num=3).status_code == 200  # the last try is taken, and told
        [apology] = slack.wait_for_answers(1, timeout=30)
        assert apology.text == STORE_FAILED
        assert model.requests == []

        proxy.restore()
        again = mention("and now?")
        for retry in (None, 1, 2, 3):  # as Slack does: a 503 (Redis just back) is sent again a little later
            if sender.send_event(again, retry_num=retry).status_code == 200:
                break
            time.sleep(0.5)
        answers = slack.wait_for_answers(2, timeout=30)
        assert answers[1].text == "Answer to: alice: and now?"
        assert httpx.get(f"{app.url}/healthz", timeout=10).status_code == 200
    finally:
        sender.close()
        app.stop()  # while its Redis is still there (a shutdown without it waits out connection timeouts)
        proxy.stop()
