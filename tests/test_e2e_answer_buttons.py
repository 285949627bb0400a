"""Buttons on answers: Stop while streaming, 👍/👎 once done, and the feedback export."""

from __future__ import annotations

import json
import time

from bot.memory.conversation import ConversationId

from .fakes.openai_api import Scripted
from .fakes.slack_api import TEAM_ID
from .harness import DONE_BUTTONS, eventually, mention, message, said, settled
from .test_cli import bare_env, run_bot

LONG_ANSWER = " ".join(f"word{n}" for n in range(400))


def test_streaming_answer_has_stop_and_finished_answer_has_feedback_buttons(app, sender, slack, model):
    model.enqueue(Scripted(text="Paris is the capital.", chunk_chars=4, delay=0.05))
    sender.send_event(mention("capital of France?"))
    [answer] = slack.wait_for_answers(1)
    assert answer.text == "Paris is the capital."
    assert answer.action_ids() == DONE_BUTTONS
    streaming = [c for c in slack.calls_to("chat.postMessage") + slack.calls_to("chat.update")
                 if "stop_answer" in json.dumps(c.params.get("blocks") or "")]
    assert streaming, "the placeholder and progress updates carry a Stop button"
    last = slack.calls_to("chat.update")[-1].params
    assert last["text"] == "Paris is the capital."  # the notification fallback goes with the blocks


def test_stop_mid_stream_keeps_and_stores_only_what_was_written(app, sender, slack, model):
    model.enqueue(Scripted(text=LONG_ANSWER, chunk_chars=6, delay=0.03))
    event = mention("write a lot")
    sender.send_event(event)
    # Wait until some text is visible, as a user would before pressing Stop.
    placeholder = slack.wait_for(lambda s: next((m for m in s.posts() if m.text.startswith("word")), None))
    stopped_at = time.monotonic()
    assert sender.send_action("stop_answer", placeholder, response_url=slack.response_url("stop")).status_code == 200

    [answer] = slack.wait_for_answers(1, final=lambda text: text.endswith("_(stopped)_"))
    assert time.monotonic() - stopped_at < 2.0, "Stop cancels the stream at once"
    shown = answer.text.removesuffix("\n\n_(stopped)_")
    assert shown and LONG_ANSWER.startswith(shown) and len(shown) < len(LONG_ANSWER)
    assert answer.action_ids() == DONE_BUTTONS

    cid = ConversationId(TEAM_ID, "C100", event["ts"])
    turns = app.wait_stored(cid, 2)
    assert [t.role for t in turns] == ["user", "assistant"]
    assert turns[1].content == shown  # only the written part, without the mark

    # The conversation goes on normally after a stop.
    sender.send_event({**mention("shorter please"), "thread_ts": event["ts"]})
    slack.wait_for_answers(2)
    assert model.wait_for_requests(2)[1].dialogue[-2] == {"role": "assistant", "content": shown}


def test_feedback_is_kept_per_person_and_acknowledged_privately(app, sender, slack, model):
    event = mention("is this helpful?")
    sender.send_event(event)
    [answer] = slack.wait_for_answers(1)
    posts_before = len(slack.calls_to("chat.postMessage"))

    response = sender.send_action("feedback_down", answer, response_url=slack.response_url("rate"), user="U2")
    assert response.status_code == 200
    [ack] = slack.wait_for_response("rate")
    assert ack["response_type"] == "ephemeral" and ack["replace_original"] is False  # only the rater sees it
    assert "Thanks" in ack["text"]
    assert len(slack.calls_to("chat.postMessage")) == posts_before  # no new message
    assert answer.action_ids() == DONE_BUTTONS and not slack.calls_to("chat.update")[len(slack.calls_to("chat.update")):], \
        "the buttons stay for everyone else"

    store = app.runtime.store
    [entry] = app.call(lambda: _collect(store.all_feedback()))
    assert entry["rating"] == "down" and entry["rated_by"] == "U2"
    assert entry["question"] == said("is this helpful?") and entry["answer"] == answer.text
    assert entry["conversation"] == str(ConversationId(TEAM_ID, "C100", event["ts"]))
    assert entry["prompt"] == "system" and isinstance(entry["prompt_version"], int)
    assert entry["model"] == app.settings.openai_model
    assert entry["message_ts"] == answer.ts and entry["answer_ts"] == answer.ts
    assert entry["context_tokens"] > 0

    # A second click replaces that person's rating; another person's rating is kept beside it.
    sender.send_action("feedback_up", answer, response_url=slack.response_url("rate"), user="U2")
    slack.wait_for_response("rate", 2)
    sender.send_action("feedback_down", answer, response_url=slack.response_url("rate"), user="U3")
    slack.wait_for_response("rate", 3)
    entries = app.call(lambda: _collect(store.all_feedback()))
    assert sorted((e["rated_by"], e["rating"]) for e in entries) == [("U2", "up"), ("U3", "down")]


def test_feedback_export_writes_jsonl(app, sender, slack, model, redis_url, key_prefix, tmp_path):
    slack.channels["C300"] = "secret-plans"
    slack.private.add("C300")
    for n, (action, channel) in enumerate([("feedback_up", "C200"), ("feedback_down", "C200"), ("feedback_up", "C300")]):
        sender.send_event(mention(f"question {n}", channel=channel))
        answer = slack.wait_for_answers(n + 1)[-1]
        sender.send_action(action, answer, response_url=slack.response_url(f"r{n}"))
        slack.wait_for_response(f"r{n}")
    store = app.runtime.store
    eventually(lambda: len(app.call(lambda: _collect(store.all_feedback()))) == 3, "three ratings stored")

    out = tmp_path / "feedback.jsonl"
    result = run_bot("feedback", "export", "--output", str(out),
                     env=bare_env(REDIS_URL=redis_url, REDIS_KEY_PREFIX=key_prefix))
    assert result.returncode == 0, result.stderr
    assert "exported 2 rating(s)" in result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["question"], r["rating"]) for r in lines) == [(said("question 0"), "up"), (said("question 1"), "down")]
    for record in lines:
        assert set(record) == {"question", "answer", "rating", "metadata"}
        assert record["answer"].startswith("Answer to:")
        assert {"conversation", "prompt", "prompt_version", "model", "message_ts", "context_tokens", "rated_at"} <= set(record["metadata"])
        assert record["metadata"]["channel"] == "C200"
    # The private channel's rating only when asked for; another workspace's export has none of these.
    env = bare_env(REDIS_URL=redis_url, REDIS_KEY_PREFIX=key_prefix)
    everything = run_bot("feedback", "export", "--include-private", "--team", TEAM_ID, env=env)
    assert "exported 3 rating(s)" in everything.stderr and "C300" in everything.stdout
    assert "exported 0 rating(s)" in run_bot("feedback", "export", "--include-private", "--team", "TOTHER", env=env).stderr

    # Ratings expire with the conversations they belong to.
    keys = app.call(lambda: _collect(store.redis.scan_iter(match=store.keys.feedback_pattern())))
    ttls = [app.call(lambda key=key: store.redis.ttl(key)) for key in keys]
    assert len(ttls) == 3 and all(0 < ttl <= app.settings.conversation_ttl_seconds for ttl in ttls)


def test_feedback_export_without_redis_url_says_what_to_set():
    result = run_bot("feedback", "export", env=bare_env())
    assert result.returncode == 2
    assert "REDIS_URL" in result.stderr and "Traceback" not in result.stderr


async def _collect(iterator):
    return [item async for item in iterator]


def test_rated_down_answers_export_as_eval_cases_that_run(app, sender, slack, model, redis_url, key_prefix, tmp_path):
    first = mention("what is our refund window?", channel="C200")
    sender.send_event(first)
    slack.wait_for_answers(1)
    sender.send_event(message("and for gift cards?", channel="C200", thread_ts=first["ts"]))
    answers = slack.wait_for_answers(2)
    sender.send_action("feedback_down", answers[-1], response_url=slack.response_url("down"))
    slack.wait_for_response("down")
    sender.send_action("feedback_up", answers[0], response_url=slack.response_url("up"))
    slack.wait_for_response("up")
    settled(app)  # no work left: nothing more can happen

    out = tmp_path / "rated-down.yaml"
    result = run_bot("feedback", "export", "--format", "eval", "--output", str(out),
                     env=bare_env(REDIS_URL=redis_url, REDIS_KEY_PREFIX=key_prefix))
    assert result.returncode == 0, result.stderr
    assert "exported 1 case(s)" in result.stderr
    import yaml

    [case] = yaml.safe_load(out.read_text())["cases"]
    assert [m["role"] for m in case["messages"]] == ["user", "assistant", "user"]  # the context the answer had
    assert case["messages"][-1]["content"] == said("and for gift cards?")
    assert case["expect"][0] == {"not_equals": answers[-1].text}
    assert case["expect"][1]["judge"].startswith("FILL IN")
    from bot.evals.cases import load_eval_file

    assert load_eval_file(out).spec.cases[0].name == case["name"]  # a valid case file as it is


def test_ratings_export_as_fine_tuning_and_preference_datasets(app, sender, slack, model, redis_url, key_prefix, tmp_path):
    model.enqueue(Scripted(text="A poor answer."), Scripted(text="A better answer."), Scripted(text="Fine as it is."))
    event = mention("explain leases", channel="C200")
    sender.send_event(event)
    [answer] = slack.wait_for_answers(1)
    sender.send_action("feedback_down", answer, response_url=slack.response_url("down"))
    slack.wait_for_response("down")
    sender.send_action("regenerate_answer", answer, response_url=slack.response_url("regen"))
    slack.wait_for(lambda s: s.messages[(answer.channel, answer.ts)].text == "A better answer.")
    regenerated = slack.messages[(answer.channel, answer.ts)]
    settled(app)  # no work left: nothing more can happen
    sender.send_action("feedback_up", regenerated, response_url=slack.response_url("up"))
    slack.wait_for_response("up")
    other = mention("say hi", channel="C200")
    sender.send_event(other)
    second = slack.wait_for_answers(2)[-1]
    sender.send_action("feedback_up", second, response_url=slack.response_url("up2"))
    slack.wait_for_response("up2")
    settled(app)  # no work left: nothing more can happen
    env = bare_env(REDIS_URL=redis_url, REDIS_KEY_PREFIX=key_prefix)

    chat = run_bot("feedback", "export", "--format", "openai-chat", env=env)
    assert chat.returncode == 0, chat.stderr
    lines = [json.loads(line) for line in chat.stdout.splitlines()]
    assert len(lines) == 2 and "exported 2 conversation(s)" in chat.stderr
    first = lines[0]["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant"]
    assert first[1]["content"].startswith(said("explain leases")) and first[2]["content"] == "A better answer."
    poor, better, hi = model.requests
    assert first[:-1] == better.messages, "trained on the very request the bot sent: system prompt, turns, closing note"
    assert lines[1]["messages"][:-1] == hi.messages

    pairs = run_bot("feedback", "export", "--format", "preference", env=env)
    assert pairs.returncode == 0, pairs.stderr
    [pair] = [json.loads(line) for line in pairs.stdout.splitlines()]
    assert pair["input"]["messages"] == better.messages
    assert pair["preferred_output"] == [{"role": "assistant", "content": "A better answer."}]
    assert pair["non_preferred_output"] == [{"role": "assistant", "content": "A poor answer."}]

    app.call(lambda: app.runtime.store.set_persona(TEAM_ID, "C200", "Be a pirate."))  # the prompt changed since
    changed = run_bot("feedback", "export", "--format", "openai-chat", env=env)
    assert changed.stdout == "" and "exported 0 conversation(s)" in changed.stderr, "never a request the bot did not send"
