"""Pure parsing of a slash command's text into the arguments its prompt declares."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence
from urllib.parse import parse_qs, urlsplit

from bot.prompts import ArgumentSpec

DEFAULT_HISTORY_COUNT = 50
MAX_HISTORY_COUNT = 200
_PERMALINK = re.compile(r"^https://[^/\s]+\.slack\.com/archives/([CGD][A-Z0-9]+)/p(\d{10})(\d{6})(?:\?(\S*))?$")


class ArgumentError(ValueError):
    """The command's text does not fit its arguments; the caller shows the usage hint."""


@dataclass(frozen=True)
class HistoryRequest:
    """What to read from Slack: a thread (from a permalink) or the channel's recent messages."""

    count: int = DEFAULT_HISTORY_COUNT
    channel: str | None = None  # None: the channel the command was used in
    thread_ts: str | None = None


def parse_history(text: str) -> HistoryRequest:
    text = text.strip()
    if not text:
        return HistoryRequest()
    if text.isdigit():
        count = int(text)
        if not 1 <= count <= MAX_HISTORY_COUNT:
            raise ArgumentError(f"the number of messages must be between 1 and {MAX_HISTORY_COUNT}")
        return HistoryRequest(count=count)
    link = text.strip("<>").split("|", 1)[0]
    match = _PERMALINK.match(link)
    if not match:
        raise ArgumentError("give a number of messages or a link to a thread")
    channel, seconds, micros, query = match.groups()
    ts = f"{seconds}.{micros}"
    thread_ts = (parse_qs(urlsplit(link).query).get("thread_ts") or [ts])[0] if query else ts
    return HistoryRequest(count=MAX_HISTORY_COUNT, channel=channel, thread_ts=thread_ts)


def parse_arguments(specs: Sequence[ArgumentSpec], text: str) -> tuple[dict[str, str], HistoryRequest | None]:
    """Values for each argument (defaults filled in) and, for a history argument, what to read."""
    rest = text.strip()
    values: dict[str, str] = {}
    history: HistoryRequest | None = None
    for spec in specs:
        if spec.kind == "word":
            word, remainder = (re.split(r"\s+", rest, maxsplit=1) + [""])[:2] if rest else ("", "")
            if spec.choices is not None and word.lower() not in spec.choices:
                word, remainder = "", rest  # not one of the choices: leave the text for the next argument
            elif spec.choices is not None:
                word = word.lower()
            if not word:
                if spec.required:
                    raise ArgumentError(f"{spec.name} is missing")
                values[spec.name] = spec.default or ""
                continue
            values[spec.name] = word
            rest = remainder.strip()
        elif spec.kind == "text":
            if not rest and spec.required:
                raise ArgumentError(f"{spec.name} is missing")
            values[spec.name] = rest or spec.default or ""
            rest = ""
        else:
            history = parse_history(rest)
            values[spec.name] = rest
            rest = ""
    if rest:
        raise ArgumentError("there is more text than the command takes")
    return values, history
