"""REDACT: secrets and personal data reach neither the model provider nor Redis; with
REDACTION_KEY the answer still shows them, only in their conversation."""

from __future__ import annotations

import json
import threading

from bot.memory.conversation import ConversationId
from bot.workspaces.sealing import new_key

from .fakes.openai_api import Scripted
from .fakes.slack_api import TEAM_ID
from .harness import SlackSender, command_reply, eventually, mention, settled, sync_client
from .test_e2e_tools import orders, tool_app  # noqa: F401,F811  (fixtures)

API_KEY = "sk-proj-" + "Zq8" * 12  # an OpenAI-shaped key
EMAIL = "jane.doe@example.com"
PHONE = "+44 20 7946 0958"
CARD = "4111 1111 1111 1111"
ORIGINALS = (API_KEY, EMAIL, PHONE, CARD, "jane.doe", "7946 0958", "4111111111111111")


def everything_in_redis(redis_url: str, prefix: str) -> str:
    """Every key under ``prefix`` and every value it holds, as one text."""
    client = sync_client(redis_url)
    parts: list[str] = []
    try:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            kind = client.type(key).decode()
            value = {"string": lambda: client.get(key), "hash": lambda: client.hgetall(key),
                     "list": lambda: client.lrange(key, 0, -1), "set": lambda: client.smembers(key),
                     "zset": lambda: client.zrange(key, 0, -1, withscores=True),
                     "stream": lambda: client.xrange(key)}.get(kind, lambda: b"")()
            parts.append(f"{key!r} {value!r}")
    finally:
        client.close()
    return "\n".join(parts)


def sent(model) -> str:
    return "\n".join(json.dumps(request.body) for request in model.requests)


def test_values_reach_neither_the_model_nor_redis_and_the_answer_shows_them(start_app, slack, model, redis_url,
                                                                            key_prefix):
    app = start_app(REDACT="secrets,pii", REDACTION_KEY=new_key(), REDACT_PHONE_REGION="GB")
    held = threading.Event()
    model.enqueue(Scripted(text="I will write to [email 1] and rotate [secret 1]; [card 1] is blocked.", gate=held),
                  Scripted(text="Yes, [email 1] again."))
    sender = SlackSender(app.url)
    try:
        event = mention(f"my key {API_KEY} leaked, mail {EMAIL} or call {PHONE}; card {CARD}")
        sender.send_event(event)
        model.wait_for_requests(1)
        while_answering = everything_in_redis(redis_url, key_prefix)  # the event and its job are kept sealed
        assert "inbox" in while_answering or "queue" in while_answering
        assert not [original for original in ORIGINALS if original in while_answering]
        held.set()
        [answer] = slack.wait_for_answers(1)
        assert answer.text == f"I will write to {EMAIL} and rotate {API_KEY}; {CARD} is blocked."
        [request] = model.wait_for_requests(1)
        asked = request.last_user_text
        assert "[secret 1]" in asked and "[email 1]" in asked and "[phone 1]" in asked and "[card 1]" in asked

        # The same address later in the conversation is the same placeholder.
        sender.send_event(mention(f"is {EMAIL} still right?", thread_ts=event["ts"]))
        slack.wait_for_answers(2)
        second = model.wait_for_requests(2)[1]
        assert "is [email 1] still right?" in second.last_user_text
        settled(app)
    finally:
        sender.close()
    for original in ORIGINALS:
        assert original not in sent(model), f"{original!r} reached the model"
    stored = everything_in_redis(redis_url, key_prefix)
    assert "[email 1]" in stored  # the turns are there, with placeholders
    for original in ORIGINALS:
        assert original not in stored, f"{original!r} is in Redis"
    turns = app.stored(ConversationId(TEAM_ID, "C100", event["ts"]))
    assert turns[1].content.startswith("I will write to [email 1]")
    entries = [e for e in app.call(lambda: app.runtime.core.audit.read()) if e.action == "redaction"]
    assert entries and entries[0].details.get("secret") == "1" and entries[0].details.get("email") == "1"
    metrics = app.runtime.core.metrics.exposition().decode()
    assert 'assistant_redactions_total{kind="email"} 2.0' in metrics


def test_without_a_key_placeholders_stay_and_only_counts_are_kept(start_app, slack, model, redis_url, key_prefix):
    app = start_app(REDACT="pii")
    model.enqueue(Scripted(text="Noted [email 1]."), Scripted(text="Noted [email 2]."))
    sender = SlackSender(app.url)
    try:
        event = mention(f"write to {EMAIL}")
        sender.send_event(event)
        [answer] = slack.wait_for_answers(1)
        assert answer.text == "Noted [email 1]."
        sender.send_event(mention("and to other@example.net", thread_ts=event["ts"]))
        slack.wait_for_answers(2)
        assert "and to [email 2]" in model.wait_for_requests(2)[1].last_user_text
        settled(app)
    finally:
        sender.close()
    stored = everything_in_redis(redis_url, key_prefix)
    assert EMAIL not in stored and "other@example.net" not in stored
    assert '{"n":{"email":2}}' in stored  # counts only: no value, not even encrypted


def test_tool_results_pass_through_the_same_stage(tool_app, orders, slack, model, redis_url, key_prefix):  # noqa: F811
    app = tool_app(REDACT="secrets,pii")
    model.enqueue(Scripted(tool_calls=[("orders__lookup_order", '{"order_id": "A-9"}')]),
                  Scripted(text="The buyer wants a call on [phone 1]."))
    sender = SlackSender(app.url)
    try:
        sender.send_event(mention("what about order A-9?"))
        slack.wait_for_answers(1, final=lambda t: "buyer" in t)
        settled(app)
    finally:
        sender.close()
    result = model.wait_for_requests(2)[1].messages[-1]
    assert result["role"] == "tool" and "[phone 1]" in result["content"] and "[email 1]" in result["content"]
    assert "buyer@example.org" not in sent(model) and "555 0199" not in sent(model)
    stored = everything_in_redis(redis_url, key_prefix)
    assert "buyer@example.org" not in stored and "555 0199" not in stored


def test_a_command_request_is_redacted_too(start_app, slack, model):
    app = start_app(REDACT="secrets", REDACTION_KEY=new_key())
    model.enqueue(Scripted(text="Rotate [secret 1] today."))
    reply = command_reply(app, slack, "/ask", f"what do I do with {API_KEY}?")
    assert API_KEY not in sent(model) and "[secret 1]" in model.requests[0].last_user_text
    assert reply["text"] == f"Rotate {API_KEY} today."
    eventually(lambda: 'assistant_redactions_total{kind="secret"} 1.0' in app.runtime.core.metrics.exposition().decode(),
               "the finding counted")


def test_shared_files_and_a_thread_read_from_slack_pass_through_the_same_stage(start_app, slack, model, redis_url,
                                                                               key_prefix):
    app = start_app(REDACT="secrets,pii")
    parent = "1600000100.000100"
    slack.threads[("C100", parent)] = [
        {"type": "message", "user": "U2", "text": f"ping {EMAIL} about the outage", "ts": parent, "thread_ts": parent}]
    ask = mention("what do these say?", thread_ts=parent, ts="1600000200.000100")
    slack.threads[("C100", parent)].append({**ask, "type": "message"})
    ask["files"] = [slack.share_file("F1", "creds.txt", f"deploy key {API_KEY}\n".encode(), mimetype="text/plain",
                                     filetype="text")]
    sender = SlackSender(app.url)
    try:
        sender.send_event(ask)
        slack.wait_for_answers(1)
        settled(app)
    finally:
        sender.close()
    [request] = model.requests
    assert "[email 1]" in request.dialogue[0]["content"] and "deploy key [secret 1]" in request.last_user_text
    assert EMAIL not in sent(model) and API_KEY not in sent(model)
    stored = everything_in_redis(redis_url, key_prefix)
    assert EMAIL not in stored and API_KEY not in stored
