"""Reading messages from Slack: a thread's earlier messages, once, when the bot
joins it, and a channel's or thread's messages for /summarize.

``conversations.replies`` and ``conversations.history`` are rate limited hard
for many apps (about one call a minute), so a joined thread is read once and
lives in Redis afterwards; the SDK's retry handler honours Retry-After.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping, Sequence

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.events import USER_MESSAGE_SUBTYPES
from bot.workspaces import context as workspace_context

log = logging.getLogger(__name__)

PAGE_SIZE = 200


@dataclass(frozen=True)
class ThreadMessage:
    """An earlier message of a thread, before it becomes a stored turn."""

    ts: str
    user: str  # user id, or "" for another bot
    text: str
    from_this_bot: bool
    bot_name: str = ""


def _ts(value: str) -> Decimal:
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError):
        return Decimal(0)


def readable_messages(raw_messages: Sequence[Mapping[str, Any]], bot_user_id: str, bot_id: str) -> list[ThreadMessage]:
    """The messages a model should read (user posts, bot posts; no joins or edits), oldest first."""
    kept: list[ThreadMessage] = []
    for raw in raw_messages:
        ts, text = raw.get("ts"), raw.get("text")
        if not isinstance(ts, str) or not isinstance(text, str) or not text.strip():
            continue
        subtype = raw.get("subtype")
        if subtype not in USER_MESSAGE_SUBTYPES and subtype != "bot_message":
            continue
        is_bot = bool(raw.get("bot_id")) or subtype == "bot_message"
        from_this_bot = (bot_id and raw.get("bot_id") == bot_id) or (bot_user_id and raw.get("user") == bot_user_id)
        profile = raw.get("bot_profile") or {}
        kept.append(
            ThreadMessage(
                ts=ts,
                user="" if is_bot and not from_this_bot else str(raw.get("user") or ""),
                text=text,
                from_this_bot=bool(from_this_bot),
                bot_name=str(profile.get("name") or raw.get("username") or "A bot"),
            )
        )
    kept.sort(key=lambda m: _ts(m.ts))
    return kept


def select_earlier(
    raw_messages: Sequence[Mapping[str, Any]], before_ts: str, bot_user_id: str, bot_id: str, limit: int
) -> list[ThreadMessage]:
    """The newest ``limit`` readable messages older than ``before_ts``, oldest first."""
    cutoff = _ts(before_ts)
    earlier = [m for m in readable_messages(raw_messages, bot_user_id, bot_id) if _ts(m.ts) < cutoff]
    return earlier[-limit:] if limit else []


class HistoryUnavailable(Exception):
    """Slack would not give the messages; ``error`` is Slack's code (safe to show)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


# Slack's limits (since 2025) for commercially distributed apps not in the Marketplace.
LIMITED_CALLS_PER_MINUTE = 1  # conversations.history and conversations.replies, each, per workspace
LIMITED_MESSAGES_PER_CALL = 15
LIMITED_METHODS = ("conversations.history", "conversations.replies")
RATE_LIMITED = "history_rate_limited"  # HistoryUnavailable.error when this minute's read is spent


class SlackHistory:
    """``budget`` (distributed apps outside the Marketplace): every read is one call of at
    most ``LIMITED_MESSAGES_PER_CALL`` messages, taken from the workspace's shared budget of
    ``LIMITED_CALLS_PER_MINUTE`` a minute; without room, the read is refused at once."""

    def __init__(self, client: AsyncWebClient, budget: Any | None = None) -> None:
        self.client = client
        self.budget = budget

    @property
    def max_per_read(self) -> int | None:
        """The most messages one read returns (None: as many as asked, in pages)."""
        return LIMITED_MESSAGES_PER_CALL if self.budget is not None else None

    async def _room(self, method: str) -> None:
        if self.budget is None:
            return
        workspace = workspace_context.current()
        if not await self.budget.take(workspace.team_id if workspace else "", method, 0):
            raise HistoryUnavailable(RATE_LIMITED)

    async def thread(
        self, channel: str, thread_ts: str, max_messages: int, before_ts: str | None = None
    ) -> list[Mapping[str, Any]]:
        """Up to ``max_messages`` of a thread (older than ``before_ts``), read in
        pages oldest first (the only order Slack offers).  Raises HistoryUnavailable."""
        messages: list[Mapping[str, Any]] = []
        cursor: str | None = None
        extra = {"latest": before_ts, "inclusive": False} if before_ts else {}
        limited = self.max_per_read
        while len(messages) < max_messages:
            await self._room("conversations.replies")
            response = await self._call(
                self.client.conversations_replies, channel=channel, ts=thread_ts,
                limit=min(PAGE_SIZE, limited or PAGE_SIZE, max_messages), cursor=cursor, **extra
            )
            messages.extend(response.get("messages") or [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if limited or not cursor or not response.get("has_more", bool(cursor)):
                break
        return messages[:max_messages]

    async def channel(self, channel: str, count: int) -> list[Mapping[str, Any]]:
        """The channel's ``count`` most recent messages, oldest first.  Raises HistoryUnavailable."""
        await self._room("conversations.history")
        response = await self._call(self.client.conversations_history, channel=channel,
                                    limit=min(count, self.max_per_read or count))
        return list(reversed(response.get("messages") or []))

    async def earlier_in_thread(
        self, channel: str, thread_ts: str, before_ts: str, max_messages: int
    ) -> list[Mapping[str, Any]]:
        """A thread's messages before the bot joined it; [] when Slack refuses."""
        try:
            return await self.thread(channel, thread_ts, max_messages, before_ts)
        except HistoryUnavailable as exc:
            log.warning("conversations.replies failed: %s; answering without the thread's history", exc.error)
            return []

    async def own_messages_since(self, channel: str, thread_ts: str | None, since_ts: str, bot_id: str) -> list[str]:
        """The ts of this bot's messages posted after ``since_ts`` in a thread (or at the
        top level of a DM): what an attempt that died mid-post may have left behind."""
        try:
            await self._room("conversations.replies" if thread_ts else "conversations.history")
            if thread_ts:
                response = await self._call(self.client.conversations_replies, channel=channel, ts=thread_ts,
                                            oldest=since_ts, inclusive=False, limit=PAGE_SIZE)
            else:
                response = await self._call(self.client.conversations_history, channel=channel,
                                            oldest=since_ts, inclusive=False, limit=PAGE_SIZE)
        except HistoryUnavailable as exc:
            log.warning("could not look for an earlier attempt's messages: %s", exc.error)
            return []
        return [str(m["ts"]) for m in response.get("messages") or []
                if m.get("bot_id") == bot_id and m.get("ts") and _ts(str(m["ts"])) > _ts(since_ts)]

    @staticmethod
    async def _call(method: Any, **kwargs: Any) -> Any:
        try:
            return await method(**kwargs)
        except SlackApiError as exc:
            raise HistoryUnavailable(str(exc.response.get("error") or "error")) from None
        except Exception as exc:  # connection problems, after the sdk's retries
            raise HistoryUnavailable(type(exc).__name__) from None
