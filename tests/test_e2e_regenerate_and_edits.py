"""Regenerate the latest answer; answer an edited question again; edits of older messages fix the history."""

from __future__ import annotations

import time

from bot.memory.conversation import ConversationId
from bot.wording import NOT_LATEST_ANSWER

from .fakes.openai_api import Scripted
from .fakes.slack_api import TEAM_ID
from .harness import DONE_BUTTONS, edited, mention, message, said, settled


def test_regenerate_replaces_the_latest_answer_in_place_and_in_history(app, sender, slack, model):
    model.enqueue(Scripted(text="First try."), Scripted(text="Second, better try."))
    event = mention("name a colour")
    sender.send_event(event)
    [answer] = slack.wait_for_answers(1)
    assert answer.text == "First try."

    assert sender.send_action("regenerate_answer", answer, response_url=slack.response_url("g")).status_code == 200
    slack.wait_for(lambda s: s.messages[(answer.channel, answer.ts)].text == "Second, better try.")
    first, second = model.wait_for_requests(2)
    assert second.messages == first.messages, "the same turn is answered again"
    assert len(slack.posts()) == 1, "the answer is replaced where it was, not posted again"
    assert slack.messages[(answer.channel, answer.ts)].action_ids() == DONE_BUTTONS

    cid = ConversationId(TEAM_ID, "C100", event["ts"])
    turns = app.wait_stored(cid, 2)
    settled(app)  # no work left: nothing more can happen
    turns = app.stored(cid)
    assert [(t.role, t.content) for t in turns] == [("user", said("name a colour")), ("assistant", "Second, better try.")]

    # The conversation continues from the regenerated answer.
    sender.send_event(message("and another", thread_ts=event["ts"]))
    slack.wait_for_answers(2)
    assert model.wait_for_requests(3)[2].dialogue[-2] == {"role": "assistant", "content": "Second, better try."}


def test_only_the_latest_answer_can_be_regenerated(app, sender, slack, model):
    event = mention("first question")
    sender.send_event(event)
    [first_answer] = slack.wait_for_answers(1)
    sender.send_event(message("second question", thread_ts=event["ts"]))
    slack.wait_for_answers(2)

    sender.send_action("regenerate_answer", first_answer, response_url=slack.response_url("old"))
    [reply] = slack.wait_for_response("old")
    assert reply["text"] == NOT_LATEST_ANSWER and reply["response_type"] == "ephemeral"
    settled(app)  # no work left: nothing more can happen
    assert len(model.requests) == 2


def test_a_multi_message_answer_is_replaced_whole(app, sender, slack, model):
    long_answer = "\n\n".join(f"Paragraph {n}. " + "text " * 150 for n in range(12))  # several messages
    model.enqueue(Scripted(text=long_answer, chunk_chars=2000), Scripted(text="Short now."))
    event = mention("long please")
    sender.send_event(event)
    cid = ConversationId(TEAM_ID, "C100", event["ts"])
    app.wait_stored(cid, 2)
    parts = slack.posts()
    assert len(parts) > 1
    sender.send_action("regenerate_answer", parts[-1], response_url=slack.response_url("g"))
    slack.wait_for(lambda s: [m.text for m in s.posts()] == ["Short now."])
    assert slack.posts()[0].ts == parts[0].ts, "the first message holds the new answer; the rest are removed"


def test_editing_the_question_just_answered_answers_it_again_in_place(app, sender, slack, model):
    event = mention("capital of Frnace?")
    sender.send_event(event)
    [answer] = slack.wait_for_answers(1)
    assert sender.send_event(edited(event, event["text"].replace("Frnace", "France"))).status_code == 200

    slack.wait_for(lambda s: "France" in s.messages[(answer.channel, answer.ts)].text)
    assert model.wait_for_requests(2)[1].last_user_text == said("capital of France?")
    assert len(slack.posts()) == 1
    cid = ConversationId(TEAM_ID, "C100", event["ts"])
    settled(app)  # no work left: nothing more can happen
    turns = app.stored(cid)
    assert [t.content for t in turns] == [said("capital of France?"), "Answer to: alice: capital of France?"]


def test_editing_an_older_message_only_updates_the_history(app, sender, slack, model):
    event = mention("my budget is 10")
    sender.send_event(event)
    slack.wait_for_answers(1)
    follow_up = message("what can I buy?", thread_ts=event["ts"])
    sender.send_event(follow_up)
    slack.wait_for_answers(2)

    sender.send_event(edited(event, event["text"].replace("10", "20")))
    cid = ConversationId(TEAM_ID, "C100", event["ts"])
    deadline = time.monotonic() + 5
    while app.stored(cid)[0].content != said("my budget is 20") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert app.stored(cid)[0].content == said("my budget is 20")
    assert len(app.stored(cid)) == 4
    settled(app)  # no work left: nothing more can happen
    assert len(model.requests) == 2, "no new answer"


def test_an_edit_after_the_window_only_updates_the_history(start_app, slack, model):
    app = start_app(EDIT_WINDOW_SECONDS=60)
    from .harness import SlackSender

    sender = SlackSender(app.url)
    try:
        event = mention("late question")
        sender.send_event(event)
        slack.wait_for_answers(1)
        cid = ConversationId(TEAM_ID, "C100", event["ts"])
        app.wait_stored(cid, 2)
        sender.send_event(edited(event, event["text"] + " (fixed)", after_seconds=120))
        deadline = time.monotonic() + 5
        while not app.stored(cid)[0].content.endswith("(fixed)") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.stored(cid)[0].content == said("late question (fixed)")
        settled(app)  # no work left: nothing more can happen
        assert len(model.requests) == 1
    finally:
        sender.close()


def test_a_retried_edit_is_handled_once(app, sender, slack, model):
    event = mention("colour of the sky?")
    sender.send_event(event)
    slack.wait_for_answers(1)
    change = edited(event, event["text"].replace("sky", "sea"))
    sender.send_event(change, event_id="EvEdit")
    sender.send_event(change, event_id="EvEdit", retry_num=1)
    model.wait_for_requests(2)
    settled(app)  # no work left: nothing more can happen
    assert len(model.requests) == 2


def test_ratings_of_a_regenerated_answer_are_kept_apart(app, sender, slack, model):
    model.enqueue(Scripted(text="Version one."), Scripted(text="Version two."))
    sender.send_event(mention("rate me"))
    [answer] = slack.wait_for_answers(1)
    sender.send_action("feedback_down", answer, response_url=slack.response_url("r1"))
    slack.wait_for_response("r1")
    sender.send_action("regenerate_answer", answer, response_url=slack.response_url("g"))
    slack.wait_for(lambda s: s.messages[(answer.channel, answer.ts)].text == "Version two.")
    settled(app)  # no work left: nothing more can happen
    sender.send_action("feedback_up", slack.messages[(answer.channel, answer.ts)], response_url=slack.response_url("r2"))
    slack.wait_for_response("r2")
    store = app.runtime.store

    async def ratings():
        return sorted([(entry["answer"], entry["rating"]) async for entry in store.all_feedback()])

    assert app.call(ratings) == [("Version one.", "down"), ("Version two.", "up")]
