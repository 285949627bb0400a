"""Writing an answer with Slack's streaming methods (chat.startStream /
appendStream / stopStream), falling back to post-and-update.

The thinking status shows until the first text; the first text starts the
stream (Tier 2: only while the workspace's budget has room, otherwise the
answer is posted and updated instead); later text is appended at the update
pace while the workspace's appendStream budget (Tier 4) can spare a call;
stopStream adds what is left and the 👍/👎/Regenerate buttons.  A streamed
message stays well under Slack's size limits: past ``STREAM_SOFT_BYTES`` the
rest waits for the end and continues in follow-up messages.

Slack's streaming messages take buttons only when they stop, so a natively
streamed answer has no Stop button while it is written.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Sequence

from slack_sdk.web.async_client import AsyncWebClient

from bot.memory.batch import Batch
from bot.slack.rate_budget import RateBudget
from bot.slack.answer_blocks import DONE, controls_block
from bot.slack.reply import SlackReply
from bot.slack.calls import call_quietly
from bot.slack.splitting import continue_after, fitting_prefix, open_fence_after
from bot.slack.text import defuse_broadcasts

log = logging.getLogger(__name__)

STREAM_SOFT_BYTES = 8_000  # stop appending past this; the end decides how the rest is split
STREAM_MAX_BYTES = 11_000  # a streamed message never grows past this (markdown_text holds 12,000 characters)
START, APPEND, STOP = "chat.startStream", "chat.appendStream", "chat.stopStream"
TASK_WAIT_SECONDS = 2.0  # a task's change of state may wait this long for the appendStream budget
SOURCES_PER_TASK = 5


def task_chunk(task: Any) -> dict[str, Any]:
    """A tool call as Slack's ``task_update`` chunk."""
    chunk: dict[str, Any] = {"type": "task_update", "id": task.id, "title": task.title[:150], "status": task.status}
    if task.details:
        chunk["details"] = task.details
    if task.sources:
        chunk["sources"] = [{"type": "url", "url": source.url, "text": source.title[:150]}
                            for source in task.sources[:SOURCES_PER_TASK]]
    return chunk


def appendable(text: str) -> int:
    """How much of ``text`` may be streamed now: whole words, and whole lines inside
    a code fence (if the stream has to stop there, no word or code line is split)."""
    if open_fence_after(text) is not None:
        return text.rfind("\n") + 1
    return max(text.rfind(" "), text.rfind("\n")) + 1


class NativeStreamReply:
    """A ReplyWriter for thread replies; ``fallback`` writes the answer wherever streaming is not possible."""

    def __init__(
        self,
        client: AsyncWebClient,
        fallback: SlackReply,
        *,
        recipient_team: str,
        recipient_user: str,
        budget: RateBudget | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.fallback = fallback
        self.recipient_team = recipient_team
        self.recipient_user = recipient_user
        self.budget = budget
        self.clock = clock
        self.stream_ts: str | None = None
        self.native: bool | None = None  # None until the first text decides
        self._streamed = ""
        self._last_append = 0.0
        self.final_ts: str | None = None
        self._sent_tasks: dict[str, str] = {}  # each tool task's status as Slack last heard it

    @property
    def message_ts(self) -> str | None:
        return self.stream_ts or self.fallback.message_ts

    def messages_shown(self) -> list[str]:
        return self.fallback.messages_shown()

    def prepare(self, batch: Batch) -> None:
        self.fallback.prepare(batch)

    async def start(self) -> bool:
        ok = await self.fallback.start()
        if self.fallback.ts is not None:  # no thinking status here: a placeholder was posted
            self.native = False
        return ok

    async def progress(self, text: str) -> None:
        if self.native is None and text.strip():
            text = defuse_broadcasts(text)
            start = text[: appendable(text)]
            if not start.strip():
                return  # not one whole word (or code line) yet: the stream starts with the next text
            self.native = await self._start_stream(start)
            if not self.native:
                await self.fallback.progress(text)
            return
        if not self.native:
            await self.fallback.progress(text)
            return
        if self.clock() - self._last_append < self.fallback.interval:
            return  # nothing is sent now: the text is not even looked at
        text = defuse_broadcasts(text)
        if len(text.encode()) > STREAM_SOFT_BYTES:
            return
        upto = appendable(text)
        if upto <= len(self._streamed):
            return
        if self.budget is not None and not await self.budget.try_take_spare(self.fallback.team, APPEND):
            return
        self._last_append = self.clock()
        self.fallback.check_writable()
        if await call_quietly(APPEND, self.client.chat_appendStream(
                channel=self.fallback.channel, ts=self.stream_ts, markdown_text=text[len(self._streamed) : upto])):
            self._streamed = text[:upto]

    async def working(self, tasks: Sequence[Any]) -> None:
        """Tools are running: each is a ``task_update`` chunk of the streamed message (the plan
        shows when several run); the answer's text follows in the same message."""
        if self.native is False:
            await self.fallback.working(tasks)
            return
        chunks = [task_chunk(task) for task in tasks if self._sent_tasks.get(task.id) != task.status]
        if not chunks:
            return
        if self.native is None:
            mode = "plan" if len(tasks) > 1 else "timeline"
            self.native = await self._start_stream("", chunks=chunks, task_display_mode=mode)
            if not self.native:
                await self.fallback.working(tasks)
                return
        else:
            if self.budget is not None and not await self.budget.take(self.fallback.team, APPEND, TASK_WAIT_SECONDS):
                return
            self.fallback.check_writable()
            if not await call_quietly(APPEND, self.client.chat_appendStream(
                    channel=self.fallback.channel, ts=self.stream_ts, chunks=chunks)):
                return
        self._sent_tasks.update({task.id: task.status for task in tasks})

    async def finish(self, text: str) -> list[str]:
        text = defuse_broadcasts(text)
        if self.native is None:  # the answer came in one piece: stream it in one go
            self.native = bool(text.strip()) and await self._start_stream(text)
        if not self.native:
            posted = await self.fallback.finish(text)
            self.final_ts = self.fallback.final_ts
            return posted
        try:
            return await self._finish_stream(text)
        finally:
            await self.fallback.release()

    async def fail(self, sentence: str) -> None:
        if not self.native:
            await self.fallback.fail(sentence)
            return
        # The stream must end; then the sentence replaces what was streamed of the failed answer.
        self.fallback.check_writable()
        await call_quietly(STOP, self.client.chat_stopStream(channel=self.fallback.channel, ts=self.stream_ts))
        self.fallback.ts = self.stream_ts
        await self.fallback.fail(sentence)

    async def retract(self) -> None:
        await self.fallback.retract()

    # ------------------------------------------------------------------
    async def _start_stream(self, text: str, **extra: Any) -> bool:
        """Start the stream with the first text (or tasks); False when Slack or the budget won't (then fall back)."""
        if self.budget is not None and not await self.budget.take(self.fallback.team, START, 0):
            log.info("chat.startStream budget is full in %s: posting and updating instead", self.fallback.team)
            return False
        fitting = text[: fitting_prefix(text, STREAM_SOFT_BYTES)]  # a stream starts well under the size limit
        if fitting != text:
            fitting = fitting[: appendable(fitting)] or fitting  # and ends with a whole word or code line
        text = fitting
        await self.fallback.note_posting()
        self.fallback.check_writable()
        response = await call_quietly(START, self.client.chat_startStream(
            channel=self.fallback.channel, thread_ts=self.fallback.thread_ts,
            recipient_team_id=self.recipient_team, recipient_user_id=self.recipient_user, markdown_text=text or None,
            **extra,
        ))
        if not response or not response.get("ts"):
            return False
        self.stream_ts = str(response["ts"])
        self._streamed = text
        await self.fallback.note_shown(self.stream_ts)
        self._last_append = self.clock()
        return True

    async def _finish_stream(self, text: str) -> list[str]:
        streamed = self._streamed
        if not text.startswith(streamed) and text.startswith(streamed.rstrip()):
            text = streamed + text[len(streamed.rstrip()):]  # a stopped answer ends trimmed: the stream keeps its text
        fits = len(text.encode()) <= STREAM_MAX_BYTES and text.startswith(streamed)
        if fits:
            rest, follow_ups = text[len(streamed) :], []
        else:
            shown = self._streamed if text.startswith(self._streamed) else ""
            rest, follow_ups = continue_after(shown, text)
        stop: dict[str, Any] = {"channel": self.fallback.channel, "ts": self.stream_ts}
        if rest:
            stop["markdown_text"] = rest
        if not follow_ups:
            stop["blocks"] = [controls_block(DONE, self.fallback.button_value)]
        self.fallback.check_writable()
        await call_quietly(STOP, self.client.chat_stopStream(**stop))
        posted = [str(self.stream_ts)]
        for n, chunk in enumerate(follow_ups):
            ts = await self.fallback.post_follow_up(chunk, last=n == len(follow_ups) - 1, answer_ts=posted[0])
            if ts:
                posted.append(ts)
        self.final_ts = posted[-1]
        return posted
