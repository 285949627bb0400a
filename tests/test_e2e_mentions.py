"""Mentions in channels and threads, end to end over HTTP."""

from __future__ import annotations

from .fakes.slack_api import BOT_USER_ID
from .harness import mention, message, said


def test_channel_mention_is_answered_in_its_thread(app, sender, slack, model):
    event = mention("what is 2+2?", user="U1", channel="C100")
    response = sender.send_event(event)
    assert response.status_code == 200

    [answer] = slack.wait_for_answers(1)
    assert answer.channel == "C100"
    assert answer.thread_ts == event["ts"]
    assert answer.text == "Answer to: alice: what is 2+2?"

    [request] = model.requests
    messages = request.messages
    assert messages[0]["role"] == "system"
    assert "#general" in messages[0]["content"]
    # Who is speaking and the date come in the latest user turn, after the history, so the
    # prefix stays cacheable; the request has one system message, first.
    assert "alice" not in messages[0]["content"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert request.note.startswith("Today is ") and request.note.endswith("The latest message is from alice.")
    assert messages[-1] == {"role": "user", "content": said("what is 2+2?") + f"\n\n<context>{request.note}</context>"}
    assert f"<@{BOT_USER_ID}>" not in messages[-1]["content"]
    assert request.body["stream"] is True
    assert request.body["model"] == "gpt-4o-mini"


def test_other_user_mentions_become_readable_names(app, sender, slack, model):
    sender.send_event(mention("please ask <@U2> and <@U3|carol> about <#C200|random> and <https://example.com|the doc> &amp; more"))
    slack.wait_for_answers(1)
    assert model.requests[0].last_user_text == (
        said("please ask @bob and @carol about #random and the doc (https://example.com) & more")
    )


def test_thread_follow_up_without_mention_is_answered(app, sender, slack, model):
    first = mention("start a plan")
    sender.send_event(first)
    slack.wait_for_answers(1)

    follow_up = message("and the second step?", user="U2", thread_ts=first["ts"])
    sender.send_event(follow_up)
    answers = slack.wait_for_answers(2)
    assert answers[1].thread_ts == first["ts"]

    history = model.requests[1].messages[:1] + model.requests[1].dialogue
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user"]
    assert history[1]["content"] == said("start a plan")
    assert history[2]["content"] == "Answer to: alice: start a plan"
    assert history[3]["content"] == said("and the second step?", "bob", "U2")
    assert not slack.calls_to("conversations.replies"), "a thread the bot started needs no Slack history read"


def test_channel_message_without_mention_is_ignored(app, sender, slack, model):
    assert sender.send_event(message("just chatting")).status_code == 200
    assert sender.send_event(message("a reply in someone else's thread", thread_ts="1600000000.000001")).status_code == 200
    sender.send_event(mention("now you"))
    slack.wait_for_answers(1)
    assert len(model.requests) == 1
    assert model.requests[0].last_user_text == said("now you")


def test_mention_inside_unseen_thread_reads_its_history_once(app, sender, slack, model):
    parent_ts = "1600000100.000100"
    slack.threads[("C100", parent_ts)] = [
        {"type": "message", "user": "U2", "text": "Outage in eu-west since 09:00", "ts": parent_ts, "thread_ts": parent_ts},
        {"type": "message", "user": "U3", "text": "Rolled back deploy 42", "ts": "1600000101.000100", "thread_ts": parent_ts},
        {"type": "message", "subtype": "bot_message", "bot_id": "BOTHER", "username": "alertbot",
         "text": "Error rate back to 0.1%", "ts": "1600000102.000100", "thread_ts": parent_ts},
        {"type": "message", "subtype": "channel_join", "user": "U9", "text": "<@U9> has joined", "ts": "1600000103.000100"},
    ]
    ask = mention("summarise the above", thread_ts=parent_ts, ts="1600000200.000100")
    slack.threads[("C100", parent_ts)].append({**ask, "type": "message"})
    sender.send_event(ask)
    [answer] = slack.wait_for_answers(1)
    assert answer.thread_ts == parent_ts

    contents = [m["content"] for m in model.requests[0].dialogue]
    assert contents == ["\n\n".join([
        said("Outage in eu-west since 09:00", "bob", "U2"),
        said("Rolled back deploy 42", "carol", "U3"),
        '<from name="alertbot" trust="bot"/>\nError rate back to 0.1%',
        said("summarise the above"),
    ])], "the imported thread and the question: one user turn, each message with its speaker"
    sender.send_event(message("thanks, and the root cause?", thread_ts=parent_ts))
    slack.wait_for_answers(2)
    assert len(slack.calls_to("conversations.replies")) == 1, "the thread is read from Slack once, then lives in Redis"
    first, second = model.requests[0], model.requests[1]
    assert second.dialogue[0]["content"] == contents[0]
    before_note = first.messages[1]["content"].removesuffix(f"\n\n<context>{first.note}</context>")
    assert second.messages[1]["content"].startswith(before_note), "the whole first turn, byte for byte: cached"


def test_empty_mention_gets_a_question_back_without_a_model_call(app, sender, slack, model):
    sender.send_event(mention(""))
    [answer] = slack.wait_for_answers(1)
    assert "empty" in answer.text
    assert model.requests == []
