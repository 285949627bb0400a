"""Reply writers around another: the answer shown with its placeholders' values back in place."""

from __future__ import annotations

from typing import Any, Callable

from bot.llm.writer import ReplyWriter


class Restoring:
    """Shows an answer with this conversation's placeholders turned back into their values
    (REDACTION_KEY); what is stored keeps the placeholders.  Everything else is the inner reply's."""

    def __init__(self, inner: ReplyWriter, restore: Callable[[str], str]) -> None:
        self.inner = inner
        self.restore = restore

    async def start(self) -> bool:
        return await self.inner.start()

    async def progress(self, text: str) -> None:
        await self.inner.progress(self.restore(text))

    async def finish(self, text: str) -> list[str]:
        return await self.inner.finish(self.restore(text))

    async def fail(self, sentence: str) -> None:
        await self.inner.fail(sentence)

    def __getattr__(self, name: str) -> Any:  # messages_shown, working, release, prepare...
        return getattr(self.inner, name)
