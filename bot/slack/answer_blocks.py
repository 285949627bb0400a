"""How an answer looks in Slack: its text as Markdown or mrkdwn, and its buttons (Stop while
it streams, 👍/👎 and Regenerate when done), with the value each button carries back."""

from __future__ import annotations

from typing import Any

from bot.slack.mrkdwn import to_mrkdwn
from bot.slack.splitting import split_message
from bot.slack.tables import split_table

STREAMING, DONE = "streaming", "done"
STOP_ACTION = "stop_answer"
REGENERATE_ACTION = "regenerate_answer"
FEEDBACK_ACTIONS = {"feedback_up": "up", "feedback_down": "down"}
CONTROLS_BLOCK = "answer_controls"
SECTION_BYTES = 3000  # a section block holds 3,000 characters


def _button(label: str, action_id: str, value: str) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "value": value, "text": {"type": "plain_text", "text": label, "emoji": True}}


def button_value(answer_ts: str = "", asker: str = "", thread: str = "") -> str:
    """What the answer's buttons carry back: the ts of the answer's first message
    ("" when it is the pressed message), who asked, and the conversation's thread
    (a ts, or "dm").  Slack returns a button's value as the bot wrote it, so the
    buttons know whose answer, in which conversation, they act on."""
    return f"{answer_ts}|{asker}|{thread}"


def parse_button_value(value: str) -> tuple[str, str, str]:
    """(answer ts or "", asker or "", thread or "") from a button's value."""
    answer_ts, _, rest = value.partition("|")
    asker, _, thread = rest.partition("|")
    return answer_ts, asker, thread


def tool_status(title: str) -> str:
    """The thinking status while a tool runs: "is looking up an order…"."""
    return f"is {title[:1].lower()}{title[1:]}…"


def controls_block(controls: str, value: str = "|") -> dict[str, Any]:
    """Stop while the answer streams; 👍/👎 and Regenerate once done.  Every button
    carries ``value`` (see :func:`button_value`)."""
    if controls == STREAMING:
        buttons = [_button("Stop", STOP_ACTION, value)]
    else:
        buttons = [
            _button("👍", "feedback_up", value),
            _button("👎", "feedback_down", value),
            _button("↻ Regenerate", REGENERATE_ACTION, value),
        ]
    return {"type": "actions", "block_id": CONTROLS_BLOCK, "elements": buttons}


def content_blocks(text: str, tables: bool = True) -> list[dict[str, Any]]:
    """The answer as a markdown block; with ``tables``, its first table that fits one table
    block as that block, between the markdown before and after it."""
    split = split_table(text) if tables else None
    if split is None:
        return [{"type": "markdown", "text": text}]
    return [*([{"type": "markdown", "text": split.before}] if split.before.strip() else []), split.block,
            *([{"type": "markdown", "text": split.after}] if split.after.strip() else [])]


def answer_blocks(text: str, controls: str, value: str = "|", tables: bool = False) -> list[dict[str, Any]]:
    """The answer's blocks (see :func:`content_blocks`), with its buttons."""
    return [*content_blocks(text, tables), controls_block(controls, value)]


def plain_fallback(text: str, limit: int = 3000) -> str:
    """The notification text that goes with blocks (``text`` is read as mrkdwn)."""
    text = to_mrkdwn(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mrkdwn_content(text: str, controls: str | None, value: str = "|") -> dict[str, Any]:
    """The message for a workspace that refuses Markdown: mrkdwn sections (3,000
    characters each) and the buttons, or plain mrkdwn ``text``."""
    converted = to_mrkdwn(text)
    if controls is None:
        return {"text": converted}
    sections = [{"type": "section", "text": {"type": "mrkdwn", "text": part}} for part in split_message(converted, SECTION_BYTES)]
    return {"blocks": [*sections, controls_block(controls, value)], "text": plain_fallback(text)}

