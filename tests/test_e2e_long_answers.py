"""Answers beyond Slack's size limits continue in follow-up messages in the same thread."""

from __future__ import annotations


from bot.memory.conversation import ConversationId
from bot.slack.splitting import is_fence_line

from .fakes.openai_api import Scripted
from .fakes.slack_api import TEAM_ID
from .harness import DONE_BUTTONS, mention, settled


def without_fence_lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if not is_fence_line(line)]


LONG_ANSWER = (
    "## Plan\n\n"
    + "\n\n".join(f"Paragraph {n}: " + "lorem ipsum dolor sit amet " * 12 for n in range(20))
    + "\n\n```python\n"
    + "".join(f"print('line {n}')  # ünïcödé 👋\n" for n in range(400))
    + "```\n\n"
    + "Done: " + "the end " * 200
)


def test_long_answer_continues_in_follow_ups_within_every_limit(app, sender, slack, model):
    assert len(LONG_ANSWER) > 20_000
    model.enqueue(Scripted(text=LONG_ANSWER, chunk_chars=500))
    event = mention("write the long plan")
    sender.send_event(event)
    cid = ConversationId(TEAM_ID, "C100", event["ts"])
    turns = app.wait_stored(cid, 2, timeout=20)
    assert turns[1].content == LONG_ANSWER  # history keeps the whole answer

    posts = slack.posts("C100")
    assert len(posts) >= 6
    assert all(p.thread_ts == event["ts"] for p in posts), "every part goes to the same thread"
    assert [e for e in slack.errors if e[0].startswith("chat.")] == [], "no call was refused for its size"
    joined = "".join(p.text for p in posts)
    assert without_fence_lines(joined) == without_fence_lines(LONG_ANSWER), "no character lost or added"
    for post in posts:
        assert post.text.count("```") % 2 == 0, "each part renders its code as code"
        assert len(post.text.encode()) <= 4000
    assert [p.action_ids() for p in posts[:-1]] == [[]] * (len(posts) - 1)
    assert posts[-1].action_ids() == DONE_BUTTONS


def test_fake_slack_refuses_oversized_messages(slack):
    """The fake enforces Slack's limits, so the test above can fail."""
    from .fakes.slack_api import size_error

    assert size_error("chat.postMessage", {"markdown_text": "x" * 12_001}) == "msg_too_long"
    assert size_error("chat.update", {"markdown_text": "x" * 4_001}) == "msg_too_long"
    assert size_error("chat.postMessage", {"blocks": [{"type": "markdown", "text": "x" * 12_001}]}) == "invalid_blocks"
    assert size_error("chat.postMessage", {"blocks": [{"type": "divider"}] * 51}) == "invalid_blocks"
    assert size_error("chat.postMessage", {"markdown_text": "x", "text": "x"}) == "invalid_arguments"
    assert size_error("chat.postMessage", {"markdown_text": "x" * 3_000}) is None


def test_private_command_answer_beyond_five_response_url_uses_says_it_was_cut(app, sender, slack, model):
    huge = "\n\n".join(f"Section {n}. " + "words and more words " * 40 for n in range(80))  # ~70,000 characters
    model.enqueue(Scripted(text=huge, chunk_chars=4000))
    sender.send_command("/ask", "everything please", response_url=slack.response_url("big"))
    deliveries = slack.wait_for_response("big", 5)
    settled(app)  # no work left: nothing more can happen
    deliveries = slack.responses["big"]
    assert len(deliveries) == 5, "response_url takes 5 uses"
    texts = [d["blocks"][0]["text"] for d in deliveries]
    assert all(len(t) <= 12_000 for t in texts)
    assert "".join(texts).startswith(huge[: sum(len(t) for t in texts[:4])])
    assert texts[-1].endswith("Mention me in a thread for the full answer.)_")
