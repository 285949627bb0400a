"""Reply writers around another: the answer shown with its placeholders' values back in place
(``Restoring``), or only as far as moderation has passed it (``Moderated``)."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from bot.guardrails.moderation import Verdict
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


class Moderated:
    """Shows an answer only as far as the moderations endpoint has passed it (MODERATION=output):
    each visible update waits for its text's check, one check at a time, while the answer
    streams on; once a text is flagged nothing more is shown (``Moderate`` replaces the answer)."""

    def __init__(self, inner: ReplyWriter, check: Callable[[str], Awaitable[Verdict]]) -> None:
        self.inner = inner
        self.check = check
        self.blocked: Verdict | None = None  # the flag on a partial text: nothing more is shown
        self._task: asyncio.Future[None] | None = None
        self._last: tuple[str, Verdict] | None = None

    async def start(self) -> bool:
        return await self.inner.start()

    async def progress(self, text: str) -> None:
        if self.blocked or (self._task is not None and not self._task.done()):
            return  # the next update shows the text as it is then
        self._task = asyncio.ensure_future(self._show(text))

    async def verdict(self, text: str) -> Verdict:
        """The whole answer's verdict: flagged already when part of it was (no second check),
        else the last update's when it was the same text, else checked now."""
        await self._settle()
        return self.blocked or await self._checked(text)

    async def finish(self, text: str) -> list[str]:
        await self._settle()
        return await self.inner.finish(text)

    async def fail(self, sentence: str) -> None:
        await self._settle()
        await self.inner.fail(sentence)

    async def _show(self, text: str) -> None:
        verdict = await self._checked(text)
        if verdict.flagged:
            self.blocked = verdict
            return
        await self.inner.progress(text)

    async def _checked(self, text: str) -> Verdict:
        if self._last is not None and self._last[0] == text:
            return self._last[1]
        verdict = await self.check(text)
        self._last = (text, verdict)
        return verdict

    async def _settle(self) -> None:
        if self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.inner, name)
        if name == "working":  # a tool status waits for an update on its way
            async def working(*args: Any) -> None:
                await self._settle()
                await found(*args)
            return working
        return found
