"""Where an answer is written while it streams: the model layer's own interface, which a
Slack reply (bot/slack/reply.py), a command's response_url, an eval or the console implement."""

from __future__ import annotations

from typing import Protocol


class ReplyWriter(Protocol):
    """Where one answer is written while it streams (Slack, a response_url, a terminal)."""

    async def start(self) -> bool: ...

    async def progress(self, text: str) -> None: ...

    async def finish(self, text: str) -> list[str]: ...

    async def fail(self, sentence: str) -> None: ...
