"""Answers to slash commands: through the command's ``response_url`` (private,
or public when the bot cannot post), or posted in the channel."""

from __future__ import annotations

import logging
from typing import Literal

from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.llm.writer import ReplyWriter
from bot.slack.reply import SlackReply
from bot.slack.splitting import split_message
from bot.wording import ANSWER_CUT

log = logging.getLogger(__name__)

# A markdown block holds 12,000 characters; response_url accepts 5 uses in 30 minutes.
RESPONSE_URL_CHUNK_BYTES = 11_000
RESPONSE_URL_MAX_USES = 5


class ResponseUrlReply:
    """An answer to a slash command delivered through its ``response_url``.

    The command's ack already showed a private "working on it"; the answer
    replaces it in one post (response_url allows 5 uses), so nothing streams.
    """

    def __init__(self, client: AsyncWebhookClient, *, response_type: Literal["ephemeral", "in_channel"] = "ephemeral") -> None:
        self.client = client
        self.response_type = response_type
        self.sent = 0  # chunks of the answer delivered: a retry (bot/answer/deliver.py) resumes after them

    async def start(self) -> bool:
        return True

    async def progress(self, text: str) -> None:
        return None

    async def finish(self, text: str) -> list[str]:
        """One marker per chunk delivered (a response_url post has no ts); [] while one failed,
        so the caller tries again later, from the first chunk not yet delivered."""
        chunks = split_message(text, RESPONSE_URL_CHUNK_BYTES)
        if len(chunks) > RESPONSE_URL_MAX_USES:  # say so rather than lose the rest silently
            last = split_message(chunks[RESPONSE_URL_MAX_USES - 1], RESPONSE_URL_CHUNK_BYTES - len(ANSWER_CUT.encode()))[0]
            chunks = chunks[: RESPONSE_URL_MAX_USES - 1] + [last + ANSWER_CUT]
        while self.sent < len(chunks):
            if not await self._send(chunks[self.sent], replace_original=self.sent == 0 and self.response_type == "ephemeral"):
                return []
            self.sent += 1
        return [f"response_url:{n}" for n in range(len(chunks))]

    async def fail(self, sentence: str) -> None:
        await self._send(sentence, replace_original=self.response_type == "ephemeral")

    async def _send(self, text: str, *, replace_original: bool) -> bool:
        try:
            response = await self.client.send(
                text=text[:3000],  # the notification fallback; the block renders the Markdown
                blocks=[{"type": "markdown", "text": text}],
                response_type=self.response_type,
                replace_original=replace_original,
                unfurl_links=False,  # a link the model wrote (maybe steered by injected text) shows no preview
                unfurl_media=False,
            )
        except Exception as exc:
            log.warning("response_url delivery failed: %s", type(exc).__name__)
            return False
        if response.status_code >= 300:
            log.warning("response_url delivery failed: HTTP %d", response.status_code)
            return False
        return True


class PublicCommandReply:
    """A public command's answer: streamed as a channel message, or through the
    response_url (in_channel) when the bot cannot post there.  A failure is
    told to the caller privately, and the public placeholder is removed."""

    def __init__(self, channel_post: SlackReply, webhook: AsyncWebhookClient) -> None:
        self.channel_post = channel_post
        self.public_fallback = ResponseUrlReply(webhook, response_type="in_channel")
        self.private = ResponseUrlReply(webhook, response_type="ephemeral")
        self.current: ReplyWriter = channel_post

    async def start(self) -> bool:
        if await self.channel_post.start():
            return True
        self.current = self.public_fallback
        return True

    async def progress(self, text: str) -> None:
        await self.current.progress(text)

    async def finish(self, text: str) -> list[str]:
        return await self.current.finish(text)

    async def fail(self, sentence: str) -> None:
        await self.channel_post.retract()
        await self.private.fail(sentence)
