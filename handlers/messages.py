"""Mentions, thread replies and direct messages.

Every ``message`` event subtype is matched here (edits, deletions, joins, bot
posts...), so Slack always gets a 200 and never counts a delivery as failed;
the pure ``classify`` decides which ones are answered.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from slack_sdk.web.async_client import AsyncWebClient

from bot.assistant_threads import AssistantThreads
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.inbox import current_ticket
from bot.slack.events import Ignored, classify
from bot.responder import BotIdentity
from bot.slack.text import strip_bot_mention
from bot.tasks import BackgroundTasks

from .assistant import name_thread

log = logging.getLogger(__name__)

# The event types behind the manifest's subscriptions (bot.manifest.BOT_EVENTS).
SUBSCRIBED_EVENTS = ("app_mention", "message")


def register(app: AsyncApp, *, dispatcher: Dispatcher, threads: AssistantThreads, identity: BotIdentity, tasks: BackgroundTasks,
             dm_threads: bool = False, allow_bots: frozenset[str] = frozenset()) -> None:
    """``dm_threads``: agent view (each top-level DM message starts its own thread); ``allow_bots``:
    other bots answered like people (ALLOW_BOT_IDS)."""
    async def on_message_event(body: dict[str, Any], client: AsyncWebClient) -> None:
        result = classify(body, identity.user_id, identity.bot_id, dm_threads=dm_threads, allow_bots=allow_bots)
        if isinstance(result, Ignored):
            log.debug("ignored event %s: %s", body.get("event_id"), result.reason)
            ticket = current_ticket()
            if ticket is not None:
                await ticket.release()
            return
        dispatcher.submit(result)
        if result.is_direct and result.reply_thread_ts:  # a DM thread is named after its first message
            tasks.spawn(name_thread(client, threads, result, strip_bot_mention(result.text, identity.user_id)))

    for event_type in SUBSCRIBED_EVENTS:
        app.event(event_type)(on_message_event)
