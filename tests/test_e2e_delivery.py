"""Exactly one answer per user message, whatever Slack and our processes do."""

from __future__ import annotations

import pytest

import threading
import time

from bot.delivery.keys import delivery_key

from .fakes.openai_api import Scripted
from .fakes.slack_api import BOT_ID, BOT_USER_ID
from .harness import edited, mention, message, said, settled, SlackSender, sync_client, twin_message

# The dedupe, queue and adoption tests also run on the Redis Cluster.


@pytest.mark.on_cluster
def test_retried_delivery_gets_one_answer(app, sender, slack, model):
    gate = threading.Event()
    model.enqueue(Scripted(gate=gate))
    event = mention("hello")
    assert sender.send_event(event, event_id="Ev1").status_code == 200
    for retry in (1, 2, 3):
        assert sender.send_event(event, event_id="Ev1", retry_num=retry).status_code == 200
    gate.set()
    slack.wait_for_answers(1)
    settled(app)  # no work left: nothing more can happen
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert len(model.requests) == 1


@pytest.mark.on_cluster
def test_app_mention_and_its_message_twin_get_one_answer(app, sender, slack, model):
    event = mention("hello twice")
    sender.send_event(event)
    sender.send_event(twin_message(event))
    slack.wait_for_answers(1)
    settled(app)  # no work left: nothing more can happen
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert len(model.requests) == 1


@pytest.mark.on_cluster
def test_two_instances_on_one_redis_answer_once(start_app, slack, model):
    first, second = start_app(), start_app()
    to_first, to_second = SlackSender(first.url), SlackSender(second.url)
    try:
        for n in range(5):
            event = mention(f"question {n}")
            # Slack sends the twin events to whichever process; and retries them.
            deliveries = [
                (to_first, event), (to_second, twin_message(event)), (to_second, event), (to_first, twin_message(event)),
            ]
            threads = [threading.Thread(target=s.send_event, args=(e,)) for s, e in deliveries]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        slack.wait_for_answers(5)
        settled(first)
        settled(second)
        assert len(slack.calls_to("chat.postMessage")) == 5
        assert sorted(r.last_user_text for r in model.requests) == [said(f"question {n}") for n in range(5)]
    finally:
        to_first.close()
        to_second.close()


def test_own_other_bots_and_hidden_subtypes_are_ignored_with_200(app, sender, slack, model):
    thread = mention("start")
    sender.send_event(thread)
    slack.wait_for_answers(1)
    ignored = [
        message("my own answer", user=BOT_USER_ID, thread_ts=thread["ts"], bot_id=BOT_ID),
        message("another bot", user="U7", thread_ts=thread["ts"], bot_id="BOTHER"),
        {**message("legacy bot", thread_ts=thread["ts"], subtype="bot_message", bot_id="BOTHER"), "user": None},
        {"type": "message", "subtype": "message_changed", "channel": "C100", "ts": "1600009999.000001",
         "channel_type": "channel", "message": {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID,
                                                "text": "edited answer", "ts": "1600009998.000001"},
         "previous_message": {"type": "message", "user": BOT_USER_ID, "text": "answer", "ts": "1600009998.000001"}},
        {**edited(thread, thread["text"]), "message": {**edited(thread, thread["text"])["message"],
                                                       "attachments": [{"title": "link preview"}]}},
        {"type": "message", "subtype": "message_deleted", "channel": "C100", "ts": "1600009999.000002",
         "deleted_ts": thread["ts"], "channel_type": "channel"},
        message("<@U9> has joined the channel", user="U9", subtype="channel_join"),
    ]
    for event in ignored:
        assert sender.send_event(event).status_code == 200
    settled(app)  # no work left: nothing more can happen
    assert len(model.requests) == 1
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_ack_goes_out_before_any_model_call_finishes(app, sender, slack, model):
    gate = threading.Event()
    model.enqueue(Scripted(gate=gate))
    started = time.monotonic()
    response = sender.send_event(mention("slow one"))
    acked = time.monotonic() - started
    assert response.status_code == 200
    assert all(post.text.startswith("_Thinking") for post in slack.posts()), "nothing but a placeholder before the model answers"
    gate.set()
    [answer] = slack.wait_for_answers(1)
    assert answer.text.startswith("Answer to:")
    assert acked < 3.0


@pytest.mark.on_cluster
def test_messages_in_one_conversation_are_answered_in_order_one_at_a_time(app, sender, slack, model):
    first = mention("one")
    sender.send_event(first)
    slack.wait_for_answers(1)
    model.default = Scripted(delay=0.02)
    texts = ["two", "three", "four", "five"]
    for text in texts:
        sender.send_event(message(text, thread_ts=first["ts"]))
    slack.wait_for_answers(5, timeout=20)
    requests = model.wait_for_requests(5)
    assert [r.last_user_text for r in requests] == [said("one")] + [said(f"{t}") for t in texts]
    for earlier, later in zip(requests, requests[1:]):
        assert earlier.finished is not None and earlier.finished <= later.started, "answers overlapped"
    # each answer saw the previous ones
    assert [m["content"] for m in requests[-1].messages if m["role"] == "assistant"][-1] == "Answer to: alice: four"


@pytest.mark.on_cluster
def test_a_conversation_held_by_a_dead_process_is_adopted(app, sender, slack, model, redis_url, key_prefix):
    from bot.memory.conversation import ConversationId, Keys

    from .fakes.slack_api import TEAM_ID

    first = mention("start")
    sender.send_event(first)
    slack.wait_for_answers(1)
    cid = ConversationId(TEAM_ID, "C100", first["ts"])
    app.wait_stored(cid, 2)
    # Another process leased the conversation, then died: its heartbeat lapsed, its lease has a minute to run.
    keys = Keys(key_prefix)
    client = sync_client(redis_url)
    client.zadd(delivery_key(keys, "workers"), {"wdead": 1})
    client.sadd(delivery_key(keys, "holding:wdead"), f"{cid}|x")
    client.set(keys.lock(cid), "wdead:7", px=60_000)
    client.close()

    sender.send_event(message("are you there?", thread_ts=first["ts"]))
    answers = slack.wait_for_answers(2, timeout=10)
    assert answers[1].text == "Answer to: alice: are you there?"
