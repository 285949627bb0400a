"""The messages of one answer in Slack: posting and updating them (Markdown, or mrkdwn once
Slack refuses Markdown here), deleting stale ones, and telling the job which messages the
answer has shown, so a Stop press on any of them reaches it and whoever takes the job over
replaces them.  Nothing is written once the answer's lease is lost (``may_write``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Coroutine, Sequence

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.answer_blocks import DONE, STREAMING, answer_blocks, button_value, content_blocks, mrkdwn_content, plain_fallback
from bot.slack.rate_budget import RateBudget

log = logging.getLogger(__name__)

# Errors meaning "this workspace/surface does not take Markdown here": resend as mrkdwn.
MARKDOWN_REFUSED = frozenset({"invalid_blocks", "invalid_arguments", "markdown_text_conflict", "invalid_blocks_format"})
PLACEHOLDER_DELETE_WAIT_SECONDS = 120.0
DM_THREAD = "dm"  # the thread of a DM's top-level conversation (ConversationId.TOP_LEVEL_DM)
POSTING = "posting"  # in the list of shown messages: a post whose ts is not known yet

_pending: set[asyncio.Task[None]] = set()


def _background(coro: Coroutine[Any, Any, None]) -> None:
    """Clean-up that must not delay the answer (kept referenced until done)."""
    task = asyncio.get_running_loop().create_task(coro)
    _pending.add(task)
    task.add_done_callback(_pending.discard)


class AnswerMessages:
    def __init__(
        self,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str | None,
        *,
        budget: RateBudget | None = None,
        team: str = "",
        controls: bool = False,
        on_shown: Callable[[Sequence[str]], Awaitable[None]] | None = None,
        background: Callable[[Coroutine[Any, Any, None]], None] | None = None,
        asker: str = "",
        may_write: Callable[[], bool] | None = None,
    ) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.budget = budget
        self.team = team
        self.controls = controls  # Stop while streaming, 👍/👎 when done
        self.on_shown = on_shown  # told every message this answer has put in Slack, as it happens
        self.background = background or _background  # clean-up that must not delay the answer
        self.asker = asker  # who asked: only they (or an admin) may stop or regenerate this answer
        self.may_write = may_write  # False once this answer's lease is lost: then nothing more is written
        self.shown: list[str] = []
        self.ts: str | None = None  # the message being written (the placeholder, then the answer)
        self.markdown = True  # False once Slack refused Markdown for this answer
        self.tables = True  # False once Slack refused a table block for this answer (its tables stay Markdown)
        self._answer_ts = ""  # the first message of the answer, once known

    @property
    def message_ts(self) -> str | None:
        return self.ts

    @property
    def button_value(self) -> str:
        return button_value(self._answer_ts, self.asker, self.thread_ts or DM_THREAD)

    def check_writable(self) -> None:
        """Abort the answer (as a cancellation) if it may no longer write to Slack.

        Checked before every Slack call: a cancel sent to the answer's task can be
        lost inside a Redis call, this check cannot."""
        if self.may_write is not None and not self.may_write():
            raise asyncio.CancelledError("this answer may no longer write")

    async def note_shown(self, ts: str) -> None:
        if ts not in self.shown:
            self.shown.append(ts)
        if self.on_shown is not None:
            await self.on_shown(list(self.shown))

    async def note_posting(self) -> None:
        """Say a new message is about to be posted (its ts is not known yet): if this
        attempt dies before the ts is noted, whoever finishes the job looks for it."""
        if self.on_shown is not None:
            await self.on_shown([*self.shown, POSTING])

    async def _delete_now(self, ts: str) -> None:
        self.check_writable()
        try:
            await self.client.chat_delete(channel=self.channel, ts=ts)
        except SlackApiError as exc:
            if exc.response.get("error") != "message_not_found":
                log.warning("chat.delete of an earlier attempt failed: %s", exc.response.get("error"))
        except Exception as exc:
            log.warning("chat.delete of an earlier attempt failed: %s", type(exc).__name__)

    async def _delete_later(self, ts: str) -> None:
        """Remove a stale message once the budget allows, but only while this answer still holds
        its lease: a process that took the job over may be showing its own answer in it by then."""
        if self.budget is not None:
            await self.budget.take(self.team, "chat.delete", PLACEHOLDER_DELETE_WAIT_SECONDS)
        if self.may_write is not None and not self.may_write():
            log.info("not removing a stale message: this answer's lease was lost, its new holder owns it")
            return
        try:
            await self.client.chat_delete(channel=self.channel, ts=ts)
        except Exception as exc:
            log.warning("chat.delete of a placeholder failed: %s", type(exc).__name__)

    async def retract(self) -> None:
        """Delete the placeholder (used when an error should not be shown publicly)."""
        if self.ts is None:
            return
        try:
            await self.client.chat_delete(channel=self.channel, ts=self.ts)
        except Exception as exc:
            log.warning("chat.delete failed: %s", type(exc).__name__)
        self.ts = None

    def _content(self, text: str, controls: str | None) -> dict[str, Any]:
        """``markdown_text``, or Markdown and buttons as blocks when this answer has
        controls; converted to mrkdwn once Slack has refused Markdown here."""
        controls = controls if self.controls else None
        if not self.markdown:
            return mrkdwn_content(text, controls, self.button_value)
        tables = self.tables and controls != STREAMING  # a table is drawn once its text is complete
        if controls is None:
            blocks = content_blocks(text, tables)
            return {"markdown_text": text} if len(blocks) == 1 else {"blocks": blocks, "text": plain_fallback(text)}
        return {"blocks": answer_blocks(text, controls, self.button_value, tables), "text": plain_fallback(text)}

    async def _call(self, method: str, text: str, controls: str | None, **where: Any) -> dict[str, Any] | None:
        """One chat.postMessage/chat.update; None when Slack refused it (logged, never raised)."""
        call = self.client.chat_postMessage if method == "chat.postMessage" else self.client.chat_update
        for _ in range(3):
            self.check_writable()
            content = self._content(text, controls)
            try:
                response = await call(channel=self.channel, **where, **content)
                return response.data if isinstance(response.data, dict) else {}
            except SlackApiError as exc:
                error = exc.response.get("error")
                has_table = any(block.get("type") == "table" for block in content.get("blocks", []))
                if self.tables and error in MARKDOWN_REFUSED and has_table:
                    log.info("%s refused a table block (%s): its tables stay Markdown", method, error)
                    self.tables = False
                    continue
                if self.markdown and error in MARKDOWN_REFUSED:
                    log.info("%s refused Markdown (%s): sending mrkdwn", method, error)
                    self.markdown = False
                    continue
                log.warning("%s failed: %s", method, error)
                return None
            except Exception as exc:  # connection problems: the sdk already retried
                log.warning("%s failed: %s", method, type(exc).__name__)
                return None
        return None

    async def post_follow_up(self, text: str, *, last: bool, answer_ts: str) -> str | None:
        """One more message of a long answer (the last one carries the buttons)."""
        self._answer_ts = answer_ts
        return await self._post(text, DONE if last else None)

    async def _post(self, text: str, controls: str | None = None) -> str | None:
        await self.note_posting()
        # No previews: a link the model wrote (maybe steered by injected text) fetches nothing and shows nothing.
        response = await self._call("chat.postMessage", text, controls, thread_ts=self.thread_ts, unfurl_links=False,
                                    unfurl_media=False)
        ts = None if response is None else response.get("ts")
        if ts:
            await self.note_shown(str(ts))
        return ts

    async def _update(self, text: str, controls: str | None = None) -> bool:
        return await self._call("chat.update", text, controls, ts=self.ts) is not None
