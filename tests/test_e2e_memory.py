"""Memory in Redis and the token budget, end to end."""

from __future__ import annotations

import tiktoken

from bot.memory.conversation import ConversationId
from bot.tokens import TOKENS_PER_MESSAGE, TOKENS_TO_PRIME_REPLY

from .fakes.openai_api import Scripted
from .fakes.slack_api import TEAM_ID
from .harness import SlackSender, mention, message, said, settled


def request_tokens(messages: list[dict[str, str]]) -> int:
    """Counted independently of the bot's own code: tiktoken + the cookbook's chat overhead."""
    encoding = tiktoken.get_encoding("o200k_base")
    return TOKENS_TO_PRIME_REPLY + sum(TOKENS_PER_MESSAGE + len(encoding.encode(m["content"])) for m in messages)


def test_history_survives_a_process_restart(start_app, slack, model):
    first_app = start_app()
    sender = SlackSender(first_app.url)
    first = mention("remember the code word: pelican")
    sender.send_event(first)
    slack.wait_for_answers(1)
    first_app.wait_stored(ConversationId(TEAM_ID, "C100", first["ts"]), 2)
    first_app.stop()
    sender.close()

    second_app = start_app()
    sender = SlackSender(second_app.url)
    try:
        sender.send_event(message("what was the code word?", thread_ts=first["ts"]))
        slack.wait_for_answers(2)
        contents = [m["content"] for m in model.requests[1].dialogue]
        assert contents == [
            said("remember the code word: pelican"),
            "Answer to: alice: remember the code word: pelican",
            said("what was the code word?"),
        ]
    finally:
        sender.close()


def test_long_thread_keeps_every_request_within_budget(start_app, slack, model):
    budget = 700
    # 200 answers in well under a minute is beyond Slack's chat.update tier; this test is about tokens.
    slack.rate_limits.pop("chat.update")
    app = start_app(MAX_CONTEXT_TOKENS=budget, MAX_OUTPUT_TOKENS=100, SLACK_UPDATES_PER_MINUTE=1_000_000)
    model.answer = lambda request: "Noted. " + "details " * 12
    sender = SlackSender(app.url)
    try:
        first = mention("turn 0 " + "context " * 10)
        sender.send_event(first)
        slack.wait_for_answers(1)
        turns = 200
        for n in range(1, turns):
            sender.send_event(message(f"turn {n} " + "context " * 10, thread_ts=first["ts"]))
            slack.wait_for_answers(n + 1, timeout=15)
        requests = model.wait_for_requests(turns)
    finally:
        sender.close()
    summaries = [r for r in requests if r.messages[0]["content"].startswith("You keep the running summary")]
    requests = [r for r in requests if r not in summaries]  # the answers' requests, one per turn
    assert summaries, "dropped turns were summarised"

    prefixes = set()
    for n, request in enumerate(requests):
        messages = request.messages
        assert request_tokens(messages) <= budget, f"request {n} is over budget"
        assert messages[0]["role"] == "system"
        assert request.dialogue[-1]["content"].startswith(said(f"turn {n} "))
        prefixes.add(messages[1]["content"])
    # Old turns are dropped in chunks: the request's first turn (and so its
    # cacheable prefix) changes far less often than once per turn.
    assert len(prefixes) < turns / 4
    stored = app.stored(ConversationId(TEAM_ID, "C100", first["ts"]))
    assert sum(t.tokens for t in stored) <= budget, "Redis holds only the window, not the whole thread"


def test_oversized_message_is_shortened_not_fatal(start_app, slack, model):
    budget = 2000
    app = start_app(MAX_CONTEXT_TOKENS=budget, MAX_OUTPUT_TOKENS=200)
    sender = SlackSender(app.url)
    try:
        huge = "START " + "lorem ipsum dolor sit amet " * 6000 + " END"
        sender.send_event(mention(huge))
        [answer] = slack.wait_for_answers(1)
        assert answer.text.startswith("Answer to:")
        [request] = model.requests
        assert request_tokens(request.messages) <= budget
        text = request.last_user_text
        assert text.startswith(said("START")) and text.endswith("END")
        assert "message cut to fit the context budget" in text
    finally:
        sender.close()


def test_embedded_store_works_without_redis_url(start_app, slack, model, caplog):
    caplog.set_level("WARNING")
    app = start_app(REDIS_URL="")
    assert "embedded in-process store" in caplog.text
    sender = SlackSender(app.url)
    try:
        first = mention("embedded?")
        sender.send_event(first)
        sender.send_event(first)  # a retry
        slack.wait_for_answers(1)
        sender.send_event(message("still there?", thread_ts=first["ts"]))
        slack.wait_for_answers(2)
        assert len(model.requests[1].dialogue) == 3
        assert len(slack.calls_to("chat.postMessage")) == 2
    finally:
        sender.close()


def test_thread_answer_shows_thinking_status_then_streams(app, sender, slack, model):
    text = "Streaming " * 30
    model.enqueue(Scripted(text=text, chunk_chars=10, delay=0.02))
    event = mention("stream it")
    sender.send_event(event)
    [answer] = slack.wait_for_answers(1)
    assert answer.text == text
    [status] = slack.calls_to("assistant.threads.setStatus")
    assert status.params["thread_ts"] == event["ts"] and status.params["status"] == "is thinking…"
    assert status.at < slack.calls_to("chat.postMessage")[0].at, "the status shows until the first text"
    assert answer.history[0] != "_Thinking…_", "no placeholder message in a thread"
    partial = answer.history[:-1]
    assert partial, "intermediate updates showed the text as it arrived"
    assert all(text.startswith(p.removesuffix(" …")) and p.endswith(" …") for p in partial)
    lengths = [len(p) for p in partial]
    assert lengths == sorted(lengths)


def test_top_level_dm_answer_streams_into_a_placeholder(start_app, slack, model):
    app = start_app(SLACK_AGENT_SURFACE="assistant_view")  # a top-level answer: the split view's DM
    text = "Streaming " * 30
    model.enqueue(Scripted(text=text, chunk_chars=10, delay=0.02))
    sender = SlackSender(app.url)
    try:
        sender.send_event(message("stream it", channel="D100", channel_type="im"))
    finally:
        sender.close()
    [answer] = slack.wait_for_answers(1)
    assert answer.text == text
    assert answer.history[0] == "_Thinking…_"
    assert slack.calls_to("assistant.threads.setStatus") == []
    partial = answer.history[1:-1]
    assert partial, "intermediate updates showed the text as it arrived"
    assert all(text.startswith(p.removesuffix(" …")) and p.endswith(" …") for p in partial)
    lengths = [len(p) for p in partial]
    assert lengths == sorted(lengths)


def test_long_answer_continues_in_follow_up_messages(app, sender, slack, model):
    paragraphs = [f"Paragraph {n}: " + "word " * 150 for n in range(12)]
    text = "\n\n".join(paragraphs)
    model.enqueue(Scripted(text=text, chunk_chars=2000))
    event = mention("write a lot")
    sender.send_event(event)
    answers = slack.wait_for_answers(3)
    assert all(a.thread_ts == event["ts"] for a in answers)
    assert all(len(a.text.encode()) <= 3800 for a in answers)
    assert "".join(a.text for a in answers) == text


def summarising_model(request) -> str:  # noqa: ANN001 - the fake model's answer function
    """As a summary model would: the summary so far, and every fact someone asked to be remembered."""
    system = request.messages[0]["content"]
    if not system.startswith("You keep the running summary"):
        return "Noted."
    text = request.messages[-1]["content"]
    so_far = text.split("The summary so far:\n", 1)[1].split("\n\nThe messages leaving", 1)[0]
    kept = [line for line in so_far.splitlines() if line.startswith("- ")]
    kept += [f"- {line.split('remember: ', 1)[1]}" for line in text.splitlines() if "remember: " in line]
    return "\n".join(dict.fromkeys(kept)) or "- nothing to keep"


def test_a_fact_from_the_first_turn_is_known_at_turn_300(start_app, slack, model):
    slack.rate_limits.pop("chat.update")
    app = start_app(MAX_CONTEXT_TOKENS=1200, MAX_OUTPUT_TOKENS=100, SLACK_UPDATES_PER_MINUTE=1_000_000,
                    SUMMARY_MAX_TOKENS=150)
    model.answer = summarising_model
    sender = SlackSender(app.url)
    try:
        first = mention("remember: my locker number is 4711")
        sender.send_event(first)
        slack.wait_for_answers(1)
        for n in range(1, 300):
            sender.send_event(message(f"turn {n} " + "chatter " * 8, thread_ts=first["ts"]))
            slack.wait_for_answers(n + 1, timeout=15)
        sender.send_event(message("what is my locker number?", thread_ts=first["ts"]))
        slack.wait_for_answers(301)
        settled(app)
    finally:
        sender.close()
    summaries = [r for r in model.requests if r.messages[0]["content"].startswith("You keep the running summary")]
    answers = [r for r in model.requests if r not in summaries]
    last = answers[-1]
    assert "what is my locker number?" in last.last_user_text
    assert not any("4711" in m["content"] for m in last.messages[1:]), "the first turn left the window long ago"
    assert "my locker number is 4711" in last.messages[0]["content"], "the summary after the system prompt keeps it"
    assert 3 <= len(summaries) < 300 / 4, "one summary per trim, not one per turn"
    systems = {r.messages[0]["content"] for r in answers}
    assert len(systems) <= len(summaries) + 1, "between trims the system prompt (and its summary) does not change"
    stored = app.call(lambda: app.runtime.core.store.load(ConversationId(TEAM_ID, "C100", first["ts"])))
    assert "4711" in (stored.summary or "")
