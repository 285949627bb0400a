"""Buttons on answers: Stop while streaming, 👍/👎 once done."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.reply import CONTROLS_BLOCK, FEEDBACK_ACTIONS, STOP_ACTION
from bot.store import ConversationStore

log = logging.getLogger(__name__)

ANSWER_RECORD_WAIT_SECONDS = 3.0
THANKS = {"up": "👍 Thanks for the feedback!", "down": "👎 Thanks: this helps us improve."}


def where(body: dict[str, Any]) -> tuple[str, str, str, str]:
    """(team, channel, message ts, user) of a button press."""
    team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or ""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
    ts = (body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get("ts") or ""
    return str(team), str(channel), str(ts), str((body.get("user") or {}).get("id") or "")


def acknowledged_blocks(body: dict[str, Any], rating: str) -> list[dict[str, Any]]:
    """The message's blocks with the buttons replaced by a thank-you line."""
    blocks = [b for b in (body.get("message") or {}).get("blocks") or [] if b.get("block_id") != CONTROLS_BLOCK]
    return blocks + [{"type": "context", "elements": [{"type": "mrkdwn", "text": THANKS[rating]}]}]


async def _answer_record(store: ConversationStore, team: str, channel: str, ts: str) -> dict[str, Any]:
    """What the rated answer was.  It is saved just after the answer is shown,
    so a very quick click may wait a moment for it."""
    deadline = time.monotonic() + ANSWER_RECORD_WAIT_SECONDS
    while True:
        record = await store.get_answer(team, channel, ts)
        if record is not None or time.monotonic() >= deadline:
            return record or {}
        await asyncio.sleep(0.1)


def register(app: AsyncApp, *, store: ConversationStore) -> None:
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
        record = await _answer_record(store, team, channel, ts)
        entry = {
            **record,
            "rating": rating,
            "rated_by": user,
            "rated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "team": team,
            "channel": channel,
            "message_ts": ts,
        }
        await store.save_feedback(team, channel, ts, entry)
        response_url = body.get("response_url")
        if response_url:
            message = body.get("message") or {}
            try:
                await AsyncWebhookClient(response_url, timeout=10).send(
                    replace_original=True, blocks=acknowledged_blocks(body, rating), text=message.get("text") or THANKS[rating]
                )
            except Exception as exc:
                log.warning("acknowledging feedback failed: %s", type(exc).__name__)

    app.action(STOP_ACTION)(on_stop)
    for action_id in FEEDBACK_ACTIONS:
        app.action(action_id)(on_feedback)
