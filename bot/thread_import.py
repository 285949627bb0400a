"""Reading a thread's earlier messages from Slack, once, when the bot joins it.

``conversations.replies`` is rate limited hard for many apps (about one call a
minute), so this happens once per thread; afterwards the thread lives in Redis.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping, Sequence

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from .events import USER_MESSAGE_SUBTYPES

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


def select_earlier(
    raw_messages: Sequence[Mapping[str, Any]], before_ts: str, bot_user_id: str, bot_id: str, limit: int
) -> list[ThreadMessage]:
    """The newest ``limit`` readable messages older than ``before_ts``, oldest first."""
    cutoff = _ts(before_ts)
    kept: list[ThreadMessage] = []
    for raw in raw_messages:
        ts, text = raw.get("ts"), raw.get("text")
        if not isinstance(ts, str) or _ts(ts) >= cutoff or not isinstance(text, str) or not text.strip():
            continue
        subtype = raw.get("subtype")
        is_bot = bool(raw.get("bot_id")) or subtype == "bot_message"
        if subtype not in USER_MESSAGE_SUBTYPES and subtype != "bot_message":
            continue
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
    return kept[-limit:] if limit else []


async def fetch_thread(
    client: AsyncWebClient, channel: str, thread_ts: str, before_ts: str, max_messages: int
) -> list[Mapping[str, Any]]:
    """Up to ``max_messages`` of the thread older than ``before_ts``, read in
    pages oldest first (the only order Slack offers); [] when Slack refuses."""
    messages: list[Mapping[str, Any]] = []
    cursor: str | None = None
    try:
        while len(messages) < max_messages:
            response = await client.conversations_replies(
                channel=channel, ts=thread_ts, latest=before_ts, inclusive=False, limit=PAGE_SIZE, cursor=cursor
            )
            messages.extend(response.get("messages") or [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor or not response.get("has_more", bool(cursor)):
                break
    except SlackApiError as exc:
        log.warning("conversations.replies failed: %s; answering without the thread's history", exc.response.get("error"))
    except Exception as exc:
        log.warning("conversations.replies failed: %s; answering without the thread's history", type(exc).__name__)
    return messages
