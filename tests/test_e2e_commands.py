"""Slash commands declared by prompt files, end to end over HTTP."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

from bot.usage.ledger import day, usage_key
from bot.wording import FLOODED

from .fakes.openai_api import Scripted
from .fakes.slack_api import TEAM_ID
from .harness import SlackSender, eventually, mention
from .test_e2e_paid_for import user_tokens_today

ROOT = Path(__file__).resolve().parent.parent


def test_ask_acks_privately_then_answers_through_the_response_url(app, sender, slack, model):
    ack = sender.send_command("/ask", "what is a monad?", response_url=slack.response_url("r1"))
    assert ack.status_code == 200
    assert ack.json() == {"text": "Working on it…", "response_type": "ephemeral"}
    [delivery] = slack.wait_for_response("r1")
    assert delivery["replace_original"] is True and delivery["response_type"] == "ephemeral"
    assert delivery["blocks"] == [{"type": "markdown", "text": delivery["text"]}]
    assert delivery["text"].startswith("Answer to:")

    [request] = model.requests
    system, user = request.messages
    assert system["role"] == "system" and "#general" in system["content"]
    assert user["role"] == "user" and "alice asks, in #general" in user["content"] and "what is a monad?" in user["content"]
    assert slack.calls_to("chat.postMessage") == [], "a private answer is not posted in the channel"


def test_translate_sends_the_language_and_the_text(app, sender, slack, model):
    sender.send_command("/translate", "French good morning <@U2>", response_url=slack.response_url("t"))
    slack.wait_for_response("t")
    [request] = model.requests
    text = request.last_user_text
    assert "into French" in text and text.endswith("good morning @bob")
    assert request.body["temperature"] == 0, "the prompt file's temperature is used"


def test_rewrite_takes_an_optional_tone(app, sender, slack, model):
    sender.send_command("/rewrite", "formal hey can u send it", response_url=slack.response_url("a"))
    sender.send_command("/rewrite", "hey can u send it", response_url=slack.response_url("b"))
    slack.wait_for_response("a")
    slack.wait_for_response("b")
    texts = sorted(r.last_user_text for r in model.wait_for_requests(2))
    assert any("reads formal" in t for t in texts) and any("reads clear and natural" in t for t in texts)
    assert all(t.endswith("hey can u send it") for t in texts)


def test_missing_arguments_get_the_usage_hint_and_no_model_call(app, sender, slack, model):
    for command, text in (("/translate", ""), ("/translate", "French"), ("/ask", "   "), ("/summarize", "lots")):
        ack = sender.send_command(command, text, response_url=slack.response_url("x"))
        assert ack.status_code == 200
        assert "Usage: `" + command in ack.json()["text"], (command, text)
    assert model.requests == []
    assert "x" not in slack.responses


def test_summarize_reads_the_channel_and_sends_its_messages(app, sender, slack, model):
    slack.history["C100"] = [
        {"type": "message", "user": "U2", "text": "We ship on Friday", "ts": "1700000100.000001"},
        {"type": "message", "user": "U3", "text": "<@U2> I'll write the release notes", "ts": "1700000200.000001"},
        {"type": "message", "subtype": "channel_join", "user": "U9", "text": "joined", "ts": "1700000250.000001"},
        {"type": "message", "user": "U1", "text": "Who owns the rollback plan?", "ts": "1700000300.000001"},
    ]
    sender.send_command("/summarize", "", response_url=slack.response_url("s"))
    slack.wait_for_response("s")
    [call] = slack.calls_to("conversations.history")
    assert call.params["channel"] == "C100" and int(call.params["limit"]) == 50
    text = model.requests[0].last_user_text
    assert "Decisions" in text and "Action items" in text
    lines = [line for line in text.splitlines() if line.startswith("[")]
    assert [line.split("] ", 1)[1] for line in lines] == [
        "bob: We ship on Friday", "carol: @bob I'll write the release notes", "alice: Who owns the rollback plan?",
    ]
    assert model.requests[0].body["max_tokens"] == 800


def test_summarize_a_thread_from_its_permalink(app, sender, slack, model):
    slack.threads[("C200", "1700000000.000100")] = [
        {"type": "message", "user": "U2", "text": "Incident: login errors", "ts": "1700000000.000100"},
        {"type": "message", "user": "U3", "text": "Fixed by restarting auth", "ts": "1700000050.000100"},
    ]
    link = "https://example.slack.com/archives/C200/p1700000050000100?thread_ts=1700000000.000100&cid=C200"
    sender.send_command("/summarize", link, response_url=slack.response_url("p"))
    slack.wait_for_response("p")
    [call] = slack.calls_to("conversations.replies")
    assert call.params["channel"] == "C200" and call.params["ts"] == "1700000000.000100"
    text = model.requests[0].last_user_text
    assert "a thread in #random" in text and "carol: Fixed by restarting auth" in text


def test_summarize_where_the_bot_is_not_invited_says_so(app, sender, slack, model):
    slack.not_in_channel.add("C100")
    sender.send_command("/summarize", "10", response_url=slack.response_url("n"))
    [delivery] = slack.wait_for_response("n")
    assert delivery["text"].startswith("I can't read this channel: invite me first")
    assert model.requests == []


def test_model_failure_reaches_the_caller_as_one_private_sentence(app, sender, slack, model):
    from bot.wording import MODEL_FAILED

    model.enqueue(Scripted(status=500))
    sender.send_command("/ask", "fail please", response_url=slack.response_url("f"))
    [delivery] = slack.wait_for_response("f")
    assert delivery["text"] == MODEL_FAILED and delivery["response_type"] == "ephemeral"


def copy_prompts(tmp_path: Path) -> Path:
    folder = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", folder)
    return folder


def with_public_shout_command(tmp_path: Path) -> Path:
    folder = copy_prompts(tmp_path)
    (folder / "shout.md").write_text(
        "---\nname: shout\nversion: 1\ndescription: Shout it\ncommand: /shout\nusage: <text>\nvisibility: public\n"
        "arguments:\n  - name: text\n    kind: text\n---\nShout: ${text}\n"
    )
    return folder


def test_a_new_prompt_file_becomes_a_public_command(start_app, slack, model, tmp_path):
    folder = copy_prompts(tmp_path)
    (folder / "haiku.md").write_text(
        "---\nname: haiku\nversion: 1\ndescription: A haiku about a topic\ncommand: /haiku\nusage: <topic>\n"
        "visibility: public\nmodel: gpt-4.1\narguments:\n  - name: topic\n    kind: text\n---\n"
        "Write a haiku about ${topic} for ${user_name}.\n"
    )
    app = start_app(PROMPTS_DIR=str(folder))
    sender = SlackSender(app.url)
    try:
        ack = sender.send_command("/haiku", "autumn deploys", response_url=slack.response_url("h"))
        assert ack.json()["text"] == "Working on it…"
        [post] = slack.wait_for_answers(1)
        assert post.channel == "C100" and post.thread_ts is None, "a public answer is a channel message"
        [request] = model.requests
        assert request.last_user_text == "Write a haiku about autumn deploys for alice."
        assert request.body["model"] == "gpt-4.1"
    finally:
        sender.close()


def test_public_answer_falls_back_to_the_response_url_when_the_bot_cannot_post(start_app, slack, model, tmp_path):
    app = start_app(PROMPTS_DIR=str(with_public_shout_command(tmp_path)))
    sender = SlackSender(app.url)
    try:
        slack.fail_next("chat.postMessage", "not_in_channel")
        sender.send_command("/shout", "hello", response_url=slack.response_url("o"))
        [delivery] = slack.wait_for_response("o")
        assert delivery["response_type"] == "in_channel" and delivery["text"].startswith("Answer to:")
    finally:
        sender.close()


def test_mention_and_commands_in_a_channel_count_towards_usage(app, sender, slack, model):
    sender.send_event(mention("hello"))
    slack.wait_for_answers(1)
    sender.send_command("/ask", "more", response_url=slack.response_url("u"))
    slack.wait_for_response("u")
    import time

    deadline = time.monotonic() + 5
    while True:
        text = sender.send_command("/assistant", "usage", response_url=slack.response_url("z")).json()["text"]
        if "You today: 0 tokens" not in text or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    lines = dict(line.split(": ", 1) for line in text.splitlines()[1:])
    for label in ("You today", "You this month", "This channel today", "This channel this month"):
        assert not lines[label].startswith("0 tokens"), (label, text)
    other = sender.send_command("/assistant", "usage", user="U2", response_url=slack.response_url("z")).json()["text"]
    assert "You today: 0 tokens" in other and "This channel today: 0 tokens" not in other


def test_public_command_failure_is_told_privately_and_the_placeholder_removed(start_app, slack, model, tmp_path):
    from bot.wording import MODEL_FAILED

    app = start_app(PROMPTS_DIR=str(with_public_shout_command(tmp_path)))
    sender = SlackSender(app.url)
    try:
        model.enqueue(Scripted(status=500))
        sender.send_command("/shout", "hello", response_url=slack.response_url("e"))
        [delivery] = slack.wait_for_response("e")
        assert delivery["text"] == MODEL_FAILED and delivery["response_type"] == "ephemeral"
        slack.wait_for(lambda s: s.deleted)
        assert slack.posts() == [], "nothing public is left behind"
    finally:
        sender.close()


def test_commands_count_against_the_flood_limit(start_app, slack, model):
    app = start_app(USER_MESSAGES_PER_MINUTE=2)
    sender = SlackSender(app.url)
    try:
        for n in range(3):
            sender.send_command("/ask", f"question {n}", response_url=slack.response_url(f"f{n}"))
            slack.wait_for_response(f"f{n}")
    finally:
        sender.close()
    assert [slack.responses[f"f{n}"][0]["text"].startswith("Answer to:") for n in range(3)] == [True, True, False]
    assert slack.responses["f2"][0]["text"] == FLOODED, "the caller waiting on the command hears why"
    assert len(model.requests) == 2


def test_a_command_is_billed_under_its_prompt_files_model(start_app, slack, model, tmp_path):
    folder = copy_prompts(tmp_path)
    (folder / "haiku.md").write_text(
        "---\nname: haiku\nversion: 1\ndescription: A haiku\ncommand: /haiku\nusage: <topic>\nmodel: gpt-4.1\n"
        "arguments:\n  - name: topic\n    kind: text\n---\nWrite a haiku about ${topic}.\n")
    app = start_app(PROMPTS_DIR=str(folder))
    model.enqueue(Scripted(text="Leaves fall.", usage=(100, 0, 10)))
    sender = SlackSender(app.url)
    try:
        sender.send_command("/haiku", "autumn", response_url=slack.response_url("h"))
        slack.wait_for_response("h")
    finally:
        sender.close()
    core = app.runtime.core
    key = usage_key(core.store.keys, TEAM_ID, day(datetime.now(timezone.utc)))
    eventually(lambda: app.call(lambda: core.store.redis.hget(key, "model:gpt-4.1:in")), "the command's usage recorded")
    fields = app.call(lambda: core.store.redis.hgetall(key))
    found = {k.decode() if isinstance(k, bytes) else k: int(v) for k, v in fields.items()}
    assert found["model:gpt-4.1:in"] == 100 and found["model:gpt-4.1:out"] == 10 and found["prompt:haiku:calls"] == 1
    assert not any(name.startswith("model:gpt-4o-mini") for name in found), "billed under the model that answered"


def test_a_response_url_post_refused_once_is_sent_again_from_where_it_stopped(app, sender, slack, model):
    long = "\n\n".join(f"Paragraph {n}: " + "words " * 300 for n in range(7))  # two response_url posts
    model.enqueue(Scripted(text=long, usage=(100, 0, 4000), chunk_chars=2000))
    slack.fail_next("response/long", "expired_url", status=500, after=1)  # the second post fails once
    sender.send_command("/ask", "a long one", response_url=slack.response_url("long"))
    first, second = slack.wait_for_response("long", count=2, timeout=15)
    assert [name for name, _ in slack.refused_responses] == ["long"]
    assert first["replace_original"] is True and second["replace_original"] is False
    assert first["text"].startswith("Paragraph 0:") and "Paragraph 6:" in second["text"]
    assert second["text"] == slack.refused_responses[0][1]["text"], "the refused chunk is the one sent again"
    eventually(lambda: user_tokens_today(app) > 0, "the answer recorded (after its delivery ended)")
    assert len(slack.responses["long"]) == 2, "no chunk sent twice"
