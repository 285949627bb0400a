"""Private notes: a message only its recipient sees (``chat.postEphemeral``)."""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.calls import call_quietly
from bot.slack.events import IncomingMessage

log = logging.getLogger(__name__)


class SlackNotes:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def note(self, message: IncomingMessage, text: str) -> None:
        """Tell the author of ``message`` something only they see, where they wrote it."""
        await call_quietly("chat.postEphemeral", self.client.chat_postEphemeral(
            channel=message.channel, user=message.user, text=text, thread_ts=message.thread_ts,
        ))
