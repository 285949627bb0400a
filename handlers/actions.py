"""Buttons on answers: Stop while streaming; 👍/👎 and Regenerate once done."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from datetime import datetime, timezone
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.memory.conversation import ConversationId
from bot.dispatcher import Dispatcher
from bot.slack.events import REGENERATE, IncomingMessage
from bot.slack.reply import CONTROLS_BLOCK, FEEDBACK_ACTIONS, REGENERATE_ACTION, STOP_ACTION
from bot.memory.store import ConversationStore
from bot.wording import CANNOT_REGENERATE, NOT_LATEST_ANSWER

log = logging.getLogger(__name__)

ANSWER_RECORD_WAIT_SECONDS = 3.0
THANKS = {"up": "👍 Thanks for the feedback!", "down": "👎 Thanks: this helps us improve."}
_TS = re.compile(r"^\d+\.\d+$")


def where(body: dict[str, Any]) -> tuple[str, str, str, str]:
    """(team, channel, message ts, user) of a button press."""
    team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or ""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
    ts = (body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get("ts") or ""
    return str(team), str(channel), str(ts), str((body.get("user") or {}).get("id") or "")


def answer_ts(action: dict[str, Any], message_ts: str) -> str:
    """The first message of the answer a button belongs to (its value), or the pressed message."""
    value = str(action.get("value") or "")
    return value if _TS.match(value) else message_ts


def acknowledged_blocks(body: dict[str, Any], rating: str) -> list[dict[str, Any]]:
    """The message's blocks with the buttons replaced by a thank-you line."""
    blocks = [b for b in (body.get("message") or {}).get("blocks") or [] if b.get("block_id") != CONTROLS_BLOCK]
    return blocks + [{"type": "context", "elements": [{"type": "mrkdwn", "text": THANKS[rating]}]}]


async def _answer_record(store: ConversationStore, team: str, channel: str, ts: str) -> dict[str, Any] | None:
    """What the answer was.  It is saved just after the answer is shown, so a
    very quick click may wait a moment for it."""
    deadline = time.monotonic() + ANSWER_RECORD_WAIT_SECONDS
    while True:
        record = await store.get_answer(team, channel, ts)
        if record is not None or time.monotonic() >= deadline:
            return record
        await asyncio.sleep(0.1)


async def _respond(body: dict[str, Any], **message: Any) -> None:
    response_url = body.get("response_url")
    if not response_url:
        return
    try:
        await AsyncWebhookClient(response_url, timeout=10).send(**message)
    except Exception as exc:
        log.warning("responding to a button failed: %s", type(exc).__name__)


def regeneration(record: dict[str, Any], team: str, channel: str, user: str, first_ts: str, clicked_at: str) -> IncomingMessage:
    """The queued job that answers the latest turn again."""
    thread = str(record.get("thread") or "")
    return IncomingMessage(
        team=team,
        channel=channel,
        channel_type=str(record.get("channel_type") or "channel"),
        user=user,
        text="",
        ts=first_ts,
        thread_ts=None if thread == ConversationId.TOP_LEVEL_DM else thread,
        mentioned=True,
        source="regenerate_button",
        kind=REGENERATE,
        event_ts=clicked_at,
    )


def register(app: AsyncApp, *, store: ConversationStore, dispatcher: Dispatcher) -> None:
    async def on_stop(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        team, channel, ts, user = where(body)
        if channel and ts:
            await store.request_stop(team, channel, ts)
            log.info("stop requested on %s %s by %s", channel, ts, user)

    async def on_feedback(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        rating = FEEDBACK_ACTIONS[action["action_id"]]
        team, channel, ts, user = where(body)
        first = answer_ts(action, ts)
        record = await _answer_record(store, team, channel, first) or {}
        entry = {
            **record,
            "rating": rating,
            "rated_by": user,
            "rated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "team": team,
            "channel": channel,
            "message_ts": ts,
            "answer_ts": first,
        }
        # One rating per answer text: a regenerated answer in the same message is rated apart.
        version = hashlib.sha1(str(record.get("answer", "")).encode()).hexdigest()[:10]
        await store.save_feedback(team, channel, f"{first}:{version}", entry)
        message = body.get("message") or {}
        await _respond(body, replace_original=True, blocks=acknowledged_blocks(body, rating),
                       text=message.get("text") or THANKS[rating])

    async def on_regenerate(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        team, channel, ts, user = where(body)
        first = answer_ts(action, ts)
        record = await _answer_record(store, team, channel, first)
        if record is None:
            await _respond(body, response_type="ephemeral", replace_original=False, text=CANNOT_REGENERATE)
            return
        job = regeneration(record, team, channel, user, first, str(action.get("action_ts") or f"{time.time():.6f}"))
        state = await store.load(job.conversation)
        latest = state.messages[-1] if state.messages else None
        if latest is None or latest.role != "assistant" or latest.ts != first:
            await _respond(body, response_type="ephemeral", replace_original=False, text=NOT_LATEST_ANSWER)
            return
        log.info("regenerating %s in %s for %s", first, job.conversation, user)
        dispatcher.submit(job)

    app.action(STOP_ACTION)(on_stop)
    app.action(REGENERATE_ACTION)(on_regenerate)
    for action_id in FEEDBACK_ACTIONS:
        app.action(action_id)(on_feedback)
