"""Pure parts: Slack markup, event classification, keys."""

from __future__ import annotations

from bot.memory.conversation import ConversationId, Keys, StoredMessage
from bot.slack.events import IncomingMessage, Ignored, classify
from bot.slack.text import mentioned_user_ids, strip_bot_mention, to_readable

BOT = "UBOT"


def body(**event):
    return {"team_id": "T1", "event": {"team": "T1", "channel": "C1", "ts": "1.000001", "user": "U1", **event}}


def test_strip_bot_mention_removes_every_form():
    assert strip_bot_mention("<@UBOT> hi", BOT) == "hi"
    assert strip_bot_mention("hi <@UBOT|assistant>, there", BOT) == "hi there"
    assert strip_bot_mention("<@UBOT>: ping <@U2>", BOT) == "ping <@U2>"
    assert strip_bot_mention("  <@UBOT>  ", BOT) == ""


def test_readable_text():
    names = {"U2": "bob"}
    assert to_readable("hi <@U2> and <@U3|carol>", names) == "hi @bob and @carol"
    assert to_readable("<@U4>", names) == "@U4"
    assert to_readable("see <#C1|general> <!here> <!subteam^S1|@devs>", names) == "see #general @here @devs"
    assert to_readable("<https://a.io|docs> <https://b.io> <mailto:x@y.z|x@y.z>", names) == "docs (https://a.io) https://b.io x@y.z (mailto:x@y.z)"
    assert to_readable("a &lt;b&gt; &amp;amp;", names) == "a <b> &amp;"
    assert mentioned_user_ids("<@U2> <@U3|c> <@U2>") == ["U2", "U3"]


def test_mention_in_channel_is_answered_in_a_new_thread():
    message = classify(body(type="app_mention", text="<@UBOT> hi"), BOT)
    assert isinstance(message, IncomingMessage)
    assert message.reply_thread_ts == "1.000001"
    assert message.conversation == ConversationId("T1", "C1", "1.000001")
    assert not message.answer_requires_known_thread


def test_thread_reply_belongs_to_the_thread():
    message = classify(body(type="message", channel_type="channel", text="more", thread_ts="0.5"), BOT)
    assert isinstance(message, IncomingMessage)
    assert message.conversation.thread == "0.5" and message.reply_thread_ts == "0.5"
    assert message.answer_requires_known_thread


def test_direct_messages():
    top = classify(body(type="message", channel="D1", channel_type="im", text="hi"), BOT)
    assert isinstance(top, IncomingMessage)
    assert top.reply_thread_ts is None and top.conversation.thread == ConversationId.TOP_LEVEL_DM
    threaded = classify(body(type="message", channel="D1", channel_type="im", text="hi", thread_ts="0.5"), BOT)
    assert isinstance(threaded, IncomingMessage) and threaded.conversation.thread == "0.5"


def test_under_agent_view_each_top_level_dm_message_starts_its_own_thread():
    top = classify(body(type="message", channel="D1", channel_type="im", text="hi", ts="1.5"), BOT, dm_threads=True)
    assert isinstance(top, IncomingMessage) and top.dm_threads
    assert top.conversation.thread == "1.5" and top.reply_thread_ts == "1.5" and top.thread_ts is None
    assert IncomingMessage.from_dict(top.to_dict()) == top, "kept as it is through the inbox and the queue"
    reply = classify(body(type="message", channel="D1", channel_type="im", text="more", thread_ts="1.5"), BOT, dm_threads=True)
    assert isinstance(reply, IncomingMessage) and reply.conversation == top.conversation
    channel = classify(body(type="app_mention", channel="C1", text="<@UBOT> hi", ts="2.5"), BOT, dm_threads=True)
    assert isinstance(channel, IncomingMessage) and channel.conversation.thread == "2.5", "channels are unchanged"


def test_bots_are_answered_only_when_allowed_and_never_the_bot_itself():
    by_app = body(type="app_mention", text="<@UBOT> hi", user="U7", bot_id="B7", bot_profile={"id": "B7"})
    webhook = body(type="message", subtype="bot_message", text="<@UBOT> alert", user=None, bot_id="B8")
    own = body(type="message", text="<@UBOT> me", user="UBOT", bot_id="BME", thread_ts="0.5")
    assert classify(by_app, BOT, "BME") == Ignored("message from a bot")
    allowed = classify(by_app, BOT, "BME", allow_bots=frozenset({"B7", "B8"}))
    assert isinstance(allowed, IncomingMessage) and allowed.bot == "B7" and allowed.user == "U7"
    assert IncomingMessage.from_dict(allowed.to_dict()) == allowed, "kept as it is through the inbox and the queue"
    hook = classify(webhook, BOT, "BME", allow_bots=frozenset({"B8"}))
    assert isinstance(hook, IncomingMessage) and hook.user == "B8" and hook.bot == "B8"
    assert classify(webhook, BOT, "BME") == Ignored("message from a bot")
    assert classify(own, BOT, "BME", allow_bots=frozenset({"BME"})) == Ignored("own message")
    person = classify(body(type="app_mention", text="<@UBOT> hi"), BOT, "BME", allow_bots=frozenset({"B7"}))
    assert isinstance(person, IncomingMessage) and person.bot == ""


def test_the_viewed_channel_of_an_app_context_changed_event():
    from bot.assistant_threads import viewed_channel

    assert viewed_channel({"entities": [{"type": "slack#/types/channel_id", "value": "C9"}]}) == "C9"
    assert viewed_channel({"entities": [{"type": "slack#/types/canvas_id", "value": "F1"},
                                        {"type": "slack#/types/channel_id", "value": "C2"}]}) == "C2"
    assert viewed_channel({}) is None and viewed_channel({"entities": "junk"}) is None
    assert viewed_channel({"entities": [{"type": "slack#/types/channel_id"}, 7]}) is None


def test_what_is_ignored():
    assert isinstance(classify(body(type="message", channel_type="channel", text="no mention"), BOT), Ignored)
    assert classify(body(type="message", text="x", user=BOT), BOT) == Ignored("own message")
    assert classify(body(type="message", text="x", bot_id="BBOT"), BOT, "BBOT") == Ignored("own message")
    assert classify(body(type="message", text="x", bot_id="B2"), BOT) == Ignored("message from a bot")
    assert isinstance(classify(body(type="message", subtype="bot_message", text="x"), BOT), Ignored)
    assert isinstance(classify(body(type="message", subtype="message_changed"), BOT), Ignored)  # no message inside
    assert isinstance(classify(body(type="message", subtype="message_deleted"), BOT), Ignored)
    assert isinstance(classify({"event": {"type": "reaction_added"}}, BOT), Ignored)
    assert isinstance(classify({"no": "event"}, BOT), Ignored)
    assert isinstance(classify(body(type="app_mention", text="x", user=None), BOT), Ignored)


def test_file_share_with_mention_is_a_user_message():
    message = classify(body(type="message", subtype="file_share", channel_type="channel", text="<@UBOT> look"), BOT)
    assert isinstance(message, IncomingMessage) and message.mentioned


def test_incoming_message_round_trips_through_json_shapes():
    message = classify(body(type="app_mention", text="<@UBOT> hi", thread_ts="0.5"), BOT)
    assert isinstance(message, IncomingMessage)
    assert IncomingMessage.from_dict(message.to_dict()) == message


def test_keys_are_versioned_and_share_a_hash_slot():
    keys = Keys("bot")
    cid = ConversationId("T1", "C1", "1.5")
    assert keys.messages(cid) == "bot:v1:conv:{T1:C1:1.5}:messages"
    assert keys.meta(cid) == "bot:v1:conv:{T1:C1:1.5}:meta"
    assert keys.lock(cid).startswith("bot:v1:conv:{T1:C1:1.5}")
    assert keys.claims(cid) == "bot:v1:conv:{T1:C1:1.5}:claims"


def test_stored_message_round_trip_keeps_unicode():
    message = StoredMessage("user", "héllo 👋", 7, "1.5", "U1")
    assert StoredMessage.from_json(message.to_json()) == message


def _edit(new_text: str, old_text: str = "old", **inner):
    return {"team_id": "T1", "event": {
        "type": "message", "subtype": "message_changed", "channel": "C1", "channel_type": "channel", "ts": "5.000001",
        "message": {"type": "message", "user": "U1", "text": new_text, "ts": "1.000001", "thread_ts": "0.500000",
                    "edited": {"user": "U1", "ts": "4.000000"}, **inner},
        "previous_message": {"type": "message", "user": "U1", "text": old_text, "ts": "1.000001"}}}


def test_a_users_edit_becomes_an_edit_job():
    job = classify(_edit("new"), BOT)
    assert isinstance(job, IncomingMessage)
    assert (job.kind, job.ts, job.text, job.event_ts, job.thread_ts) == ("edit", "1.000001", "new", "4.000000", "0.500000")
    assert job.conversation == ConversationId("T1", "C1", "0.500000")
    assert job.job_id == "4.000000:edit:1.000001" and job.answer_requires_known_thread


def test_edits_that_are_not_a_users_new_text_are_ignored():
    assert classify(_edit("same", "same"), BOT) == Ignored("edit that keeps the text (a link preview)")
    assert isinstance(classify(_edit("x", bot_id="B2"), BOT), Ignored)
    assert isinstance(classify(_edit("x", user=BOT), BOT), Ignored)
    assert isinstance(classify(_edit("x", subtype="bot_message"), BOT), Ignored)


def test_job_ids_sort_in_the_order_things_happened():
    answer = IncomingMessage("T1", "C1", "channel", "U1", "q", "1700000000.000100", None, True, "app_mention")
    later_edit = IncomingMessage("T1", "C1", "channel", "U1", "q", "1700000000.000100", None, True, "message_changed",
                                 kind="edit", event_ts="1700000050.000000")
    next_message = IncomingMessage("T1", "C1", "channel", "U1", "q", "1700000060.000000", "1700000000.000100", True, "message")
    assert sorted([next_message.job_id, later_edit.job_id, answer.job_id]) == [answer.job_id, later_edit.job_id, next_message.job_id]
    assert IncomingMessage.from_dict(later_edit.to_dict()) == later_edit
    assert IncomingMessage.from_dict({k: v for k, v in answer.to_dict().items() if k not in ("kind", "event_ts")}) == answer


def test_a_window_decodes_in_one_parse_exactly_as_one_by_one():
    window = [StoredMessage("user", f"héllo {n} \"quoted\" 👋", n, f"{n}.5", "U1") for n in range(5)]
    raws = [m.to_json() for m in window]
    assert StoredMessage.many_from_json(raws) == [StoredMessage.from_json(r) for r in raws] == window
    assert StoredMessage.many_from_json([]) == []
