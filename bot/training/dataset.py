"""A fine-tuning dataset checked before it is uploaded (pure): one JSON object a line in the
chat format OpenAI's fine-tuning API takes, each ending with the assistant's answer to learn."""

from __future__ import annotations

import json
from typing import Any, Iterable

MIN_EXAMPLES = 10  # OpenAI's minimum
ROLES = ("system", "user", "assistant", "tool")
TOP_LEVEL = {"messages", "tools", "parallel_tool_calls"}


def problems_of(lines: Iterable[str]) -> tuple[int, list[str]]:
    """How many examples, and every problem (``line N: …``); none when it can be uploaded."""
    found: list[str] = []
    count = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        count += 1
        try:
            example = json.loads(line)
        except ValueError:
            found.append(f"line {number}: not JSON")
            continue
        found += [f"line {number}: {problem}" for problem in _example(example)]
    if count < MIN_EXAMPLES:
        found.append(f"{count} example(s): the fine-tuning API needs at least {MIN_EXAMPLES}")
    return count, found


def _example(example: Any) -> list[str]:
    if not isinstance(example, dict):
        return ["not a JSON object"]
    unknown = set(example) - TOP_LEVEL
    if unknown:
        return [f"unknown field {sorted(unknown)[0]!r}"]
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        return ["no messages"]
    found = []
    for n, message in enumerate(messages, start=1):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            found.append(f"message {n} has no role among {', '.join(ROLES)}")
            continue
        content = message.get("content")
        if not isinstance(content, str) and not (message["role"] == "assistant" and message.get("tool_calls")):
            found.append(f"message {n} ({message['role']}) has no text content")
    if isinstance(messages[-1], dict) and messages[-1].get("role") != "assistant":
        found.append("the last message is not the assistant's answer")
    return found
