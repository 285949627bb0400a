"""Writing one answer into Slack while it streams: post, then update.

In a thread the "is thinking…" status shows until the first text, which is
posted with a Stop button; elsewhere a placeholder is posted first.  The
message is updated with the text so far no more often than ``interval``
seconds and only while the workspace's shared ``chat.update`` budget can
spare it (Tier 3: about 50 calls a minute per workspace), and finally holds
the whole answer with 👍/👎/Regenerate; a longer answer continues in follow-up
messages.  A message that will need a final update is shown only while the workspace's
budget can take that update (``hold_final_update``): under a burst, an answer keeps its
thinking status (or shows nothing yet) and is posted once, complete, instead of leaving a
partial it could not finish.  How the messages are posted and updated: bot/slack/answer_messages.py;
how they look: bot/slack/answer_blocks.py.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Awaitable, Callable, Coroutine, Sequence

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.memory.batch import Batch, Reply
from bot.slack.agent_sessions import AgentSessions, session_stop_target
from bot.slack.answer_blocks import DONE, STREAMING, tool_status
from bot.slack.answer_messages import AnswerMessages
from bot.slack.rate_budget import RateBudget, retry_after_seconds
from bot.slack.splitting import first_message, split_message
from bot.slack.text import defuse_broadcasts

PLACEHOLDER = "_Thinking…_"
THINKING_STATUS = "is thinking…"
STATUS_METHOD = "assistant.threads.setStatus"
STOPPED_MARK = "\n\n_(stopped)_"
FINAL_UPDATE_WAIT_SECONDS = 3.0
CURSOR = " …"
UPDATE_INTERVAL_GROWTH = 1.5  # each progress update waits this much longer than the one before
UPDATE_INTERVAL_MAX_SECONDS = 10.0

log = logging.getLogger(__name__)


class SlackReply(AnswerMessages):
    def __init__(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str | None,
        *,
        interval: float,
        budget: RateBudget | None = None,
        team: str = "",
        controls: bool = False,
        replace: Sequence[str] = (),
        status_client: AsyncWebClient | None = None,
        on_shown: Callable[[Sequence[str]], Awaitable[None]] | None = None,
        background: Callable[[Coroutine[Any, Any, None]], None] | None = None,
        asker: str = "",
        may_write: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sessions: AgentSessions | None = None,
    ) -> None:
        super().__init__(client, channel, thread_ts, budget=budget, team=team, controls=controls, on_shown=on_shown,
                         background=background, asker=asker, may_write=may_write)
        self.sessions = sessions  # Slack's agent sessions, where offered: its loading indicator and Stop button
        self._session = False  # this answer's thread session is "processing"
        self.interval = interval
        self.clock = clock
        self._last_update = 0.0
        self._shown = ""
        self._answer_id: str | None = None
        self.replace = list(replace)  # an earlier answer's messages, to be replaced by this one
        self.status_client = status_client or client  # best without 429 retries: the status must never wait
        self._status_shown = False  # "is thinking…" shows instead of a placeholder message
        self.final_ts: str | None = None  # the message that carries the feedback buttons
        self._status_call: Reply | None = None  # a status call taken in a batch (see prepare)
        self._next_interval = interval  # grows with each progress update
        self._tool_line = ""  # the line under the answer naming the tools running now
        self._waiting = False  # nothing shown yet: the budget could not take this answer's final update
        self._hold_tried = float("-inf")  # when this answer last asked to hold a final update

    def messages_shown(self) -> list[str]:
        """Every message this answer has in Slack so far (a Stop press on any of them stops it),
        and, in an agent session, its thread (Slack's Stop may come before any message)."""
        shown = [*self.shown, *([self.ts] if self.ts and self.ts not in self.shown else [])]
        if self._session and self.thread_ts:
            shown.append(session_stop_target(self.thread_ts))
        return shown

    def prepare(self, batch: Batch) -> None:
        """Add to ``batch`` (sent beside the model request) the budget steps ``start`` needs:
        count this answer in flight and, in a thread, take a status call."""
        if self.budget is None:
            return
        self._answer_id = self.budget.begin_answer_in(batch, self.team)
        if self.thread_ts and not self.replace:
            self._status_call = self.budget.take_in(batch, self.team, STATUS_METHOD)

    async def start(self) -> bool:
        """Post the placeholder (or turn the answer being replaced into one).
        False when Slack refused (the answer cannot be shown)."""
        if self.budget is not None and self._answer_id is None:
            self._answer_id = await self.budget.begin_answer(self.team)
        if self.replace and await self._take_over(self.replace[0]):
            return True
        if self.thread_ts and self.sessions is not None and await self.sessions.begin(
                self.team, self.channel, self.thread_ts, self.asker):
            self._session = self._status_shown = True  # Slack shows its loading indicator and Stop button
            self._last_update = self.clock()
            return True
        if self.thread_ts and await self._set_status(THINKING_STATUS):
            self._last_update = self.clock()
            return True  # Slack shows "is thinking…" until the first text is posted
        if not await self._may_hold():
            self._waiting = True  # posted once complete (or once the budget frees up)
            return True
        ts = await self._post(PLACEHOLDER, STREAMING)
        self.ts = ts
        self._last_update = self.clock()
        if ts is None:
            await self.release()
        return ts is not None

    async def _take_over(self, ts: str) -> bool:
        """Show the placeholder in the earlier answer's first message, and remove its other
        messages.  If that message cannot be updated (gone, or a stream left unfinished),
        it is removed too and the answer is posted anew."""
        self.ts = ts
        if not await self._final_update(PLACEHOLDER, STREAMING, post_if_busy=False):
            self.ts = None
            await self._delete_now(ts)
            for extra in self.replace[1:]:
                await self._delete_now(extra)
            return False
        self._last_update = self.clock()
        await self.note_shown(ts)
        for extra in self.replace[1:]:
            self.background(self._delete_later(extra))
        return True

    async def _set_status(self, status: str) -> bool:
        """The assistant thread status; False where Slack does not take it (then a placeholder is posted)."""
        prepared, self._status_call = self._status_call, None
        if prepared is not None:
            allowed = RateBudget.taken(prepared)
        else:
            allowed = self.budget is None or await self.budget.take(self.team, STATUS_METHOD, 0)
        if not allowed:
            return False  # the workspace is at the method's limit: a placeholder will do
        self.check_writable()
        try:
            await self.status_client.assistant_threads_setStatus(channel_id=self.channel, thread_ts=self.thread_ts, status=status)
        except Exception as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            if isinstance(exc, SlackApiError) and exc.response.status_code == 429 and self.budget is not None:
                await self.budget.block(self.team, STATUS_METHOD, retry_after_seconds(exc.response.headers))
            log.info("assistant.threads.setStatus not available here (%s): posting a placeholder", error)
            return False
        self._status_shown = True
        return True

    async def progress(self, text: str) -> None:
        """Show the text so far, at most once per interval, and only while the
        workspace's update budget can spare it.  The interval grows with every
        update (``UPDATE_INTERVAL_GROWTH``): a long answer is updated less often."""
        if self.ts is None and (self._status_shown or self._waiting) and text.strip():
            if await self._may_hold():
                await self._post_first_text(defuse_broadcasts(text))
            return
        if self.ts is None or self.clock() - self._last_update < self._next_interval:
            return  # nothing is sent now: the text is not even looked at
        shown = first_message(defuse_broadcasts(text))
        if shown == self._shown:
            return
        self._last_update = self.clock()
        self._next_interval = min(self._next_interval * UPDATE_INTERVAL_GROWTH, UPDATE_INTERVAL_MAX_SECONDS)
        if self.budget is not None and not await self.budget.try_take_spare(self.team, "chat.update"):
            return  # many answers are streaming in this workspace: skip this one
        if await self._update(shown + CURSOR, STREAMING):
            self._shown = shown

    async def working(self, tasks: Sequence[Any]) -> None:
        """Tools are running: the thinking status names the first (within its budget), or a
        short line under the answer so far names them ("_Looking up an order…_")."""
        running = [task.title for task in tasks if task.status == "in_progress"]
        if self.ts is None:
            if self._status_shown and running:
                await self._set_status(tool_status(running[0]))
            return
        line = f"_{', '.join(running[:3])}…_" if running else ""
        if line == self._tool_line:
            return
        self._tool_line = line
        if self.budget is not None and not await self.budget.try_take_spare(self.team, "chat.update"):
            return
        shown = self._shown or PLACEHOLDER
        await self._update(shown + (f"\n\n{line}" if line else CURSOR), STREAMING)

    async def _may_hold(self) -> bool:
        """Whether this answer may show a message it will have to update at the end (asked at
        most once an interval: the answer streams on meanwhile, shown or not)."""
        if self.budget is None or self._answer_id is None:
            return True
        if self.clock() - self._hold_tried < self.interval:
            return False
        self._hold_tried = self.clock()
        return await self.budget.hold_final_update(self.team, self._answer_id)

    async def _post_first_text(self, text: str) -> None:
        """The first text replaces the thinking status (a post: no update budget spent)."""
        shown = first_message(text)
        self.ts = await self._post(shown + CURSOR, STREAMING)
        self._last_update = self.clock()
        if self.ts is not None:
            self._shown = shown
            self._waiting = False
        else:
            self._status_shown = self._waiting = False  # Slack refused: finish() posts the answer anew

    async def finish(self, text: str) -> list[str]:
        """Replace the placeholder with the whole answer; returns the ts of every message used."""
        try:
            return await self._finish(text)
        finally:
            await self.release()

    async def _finish(self, text: str) -> list[str]:
        chunks = split_message(defuse_broadcasts(text))
        last = len(chunks) - 1
        posted: list[str] = []
        if self.ts is not None and await self._final_update(chunks[0], DONE if last == 0 else None, ending=True):
            posted.append(self.ts)
        else:
            stale = self.ts
            first = await self._post(chunks[0], DONE if last == 0 else None)
            if first:
                posted.append(first)
                if stale is not None:  # the placeholder Slack would not update: no half answer left behind
                    await self._delete_now(stale)
        self._answer_ts = posted[0] if posted else ""
        for n, chunk in enumerate(chunks[1:], start=1):
            ts = await self._post(chunk, DONE if n == last else None)
            if ts:
                posted.append(ts)
        self.final_ts = posted[-1] if posted else None
        return posted

    async def fail(self, sentence: str) -> None:
        """Replace the placeholder (or post) with one plain sentence."""
        try:
            if self.ts is None or not await self._final_update(sentence):
                await self._post(sentence)
        finally:
            await self.release()

    async def _final_update(
        self, text: str, controls: str | None = None, *, post_if_busy: bool = True, ending: bool = False
    ) -> bool:
        """Put ``text`` in the placeholder.  If the workspace's update budget stays
        full, post ``text`` as a new message instead and remove the placeholder
        once the budget allows: the answer is shown now either way.  ``ending``: the
        answer's last budgeted call (it stops counting as in flight in the same step)."""
        if self.budget is None:
            return await self._update(text, controls)
        answer_id = self._answer_id if ending else None
        if await self.budget.take(self.team, "chat.update", FINAL_UPDATE_WAIT_SECONDS, ending=answer_id or ""):
            if answer_id is not None:
                self._answer_id = None
            return await self._update(text, controls)
        if not post_if_busy:
            return False
        placeholder = self.ts
        self.ts = await self._post(text, controls)
        if self.ts is None:
            self.ts = placeholder
            return await self._update(text, controls)  # Slack may still accept it; its own 429 retry waits
        if placeholder is not None:
            self.background(self._delete_later(placeholder))
        return True

    async def release(self) -> None:
        """This answer no longer counts as in flight in the workspace's update budget (and its
        agent session, if it has one, is no longer processing)."""
        if self._session and self.sessions is not None and self.thread_ts:
            self._session = False
            self.background(self.sessions.end(self.team, self.channel, self.thread_ts))
        if self.budget is not None and self._answer_id is not None:
            await self.budget.end_answer(self.team, self._answer_id)
            self._answer_id = None
