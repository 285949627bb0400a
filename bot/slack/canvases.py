"""Writing to Slack canvases (TOOL_WRITE_CANVAS): a new canvas, the channel's own canvas, or a
section added at the end of a canvas someone names by link.  What goes in comes from the
conversation, so a canvas is written only where everyone who can read it could read the
conversation (the audience rule of bot/slack/audience.py, turned around): a new canvas is
shared with the answer's audience and nobody else; a named canvas only when each
conversation it is shared in may see this one."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.audience import Audience

log = logging.getLogger(__name__)

CANVAS_LINK = re.compile(r"https://[\w.-]*slack\.com/docs/[A-Z0-9]+/(F[A-Z0-9]+)")
MAX_MARKDOWN_CHARS = 100_000  # Slack takes 1 MiB; an answer is far below either
TITLE_CHARS = 150
NEW, CHANNEL, LINKED = "new", "channel", "link"


class CanvasError(Exception):
    """The canvas was not written: the sentence says why (for the model, or for the asker)."""


@dataclass(frozen=True)
class Written:
    canvas_id: str
    link: str
    title: str


def canvas_id_of(link: str) -> str | None:
    found = CANVAS_LINK.search(link)
    return found.group(1) if found else None


class CanvasWriter:
    def __init__(self, client: AsyncWebClient, may_show: Callable[[str, Audience], Awaitable[str | None]]) -> None:
        """``may_show(channel, audience)``: the audience rule (bot.slack.directory)."""
        self.client = client
        self.may_show = may_show

    async def write(self, audience: Audience, *, title: str, markdown: str, target: str = NEW, link: str = "") -> Written:
        """Write ``markdown`` for the conversation ``audience`` describes; raises CanvasError."""
        if not markdown.strip():
            raise CanvasError("Error: there is nothing to write.")
        if len(markdown) > MAX_MARKDOWN_CHARS:
            raise CanvasError(f"Error: that is too long for one canvas ({len(markdown):,} characters).")
        title = " ".join(title.split())[:TITLE_CHARS] or "Notes"
        content = {"type": "markdown", "markdown": markdown}
        try:
            if target == LINKED:
                canvas_id = await self._named(audience, link)
                await self.client.canvases_edit(canvas_id=canvas_id, changes=[
                    {"operation": "insert_at_end", "document_content": {"type": "markdown", "markdown": f"## {title}\n\n{markdown}"}}])
            elif target == CHANNEL:
                canvas_id = await self._channel_canvas(audience, title, content)
            else:
                canvas_id = await self._new(audience, title, content)
            return Written(canvas_id, await self._permalink(canvas_id, audience.team), title)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            log.info("canvas not written: %s", error)
            raise CanvasError(f"Error: Slack would not write the canvas ({error}).") from None

    async def _new(self, audience: Audience, title: str, content: dict[str, str]) -> str:
        """A standalone canvas, readable by the answer's audience and writable by the asker."""
        created = await self.client.canvases_create(title=title, document_content=content)
        canvas_id = str(created["canvas_id"])
        await self.client.canvases_access_set(canvas_id=canvas_id, access_level="write", user_ids=[audience.asker])
        if not audience.only_asker:
            await self.client.canvases_access_set(canvas_id=canvas_id, access_level="read", channel_ids=[audience.channel])
        return canvas_id

    async def _channel_canvas(self, audience: Audience, title: str, content: dict[str, str]) -> str:
        """This conversation's own canvas: created, or a section added at its end."""
        if audience.only_asker and not audience.channel.startswith("D"):
            raise CanvasError("Error: this answer is private, so it cannot go into the channel's canvas; "
                              "write a new canvas instead.")
        try:
            created = await self.client.conversations_canvases_create(
                channel_id=audience.channel, document_content=content, title=title)
            return str(created["canvas_id"])
        except SlackApiError as exc:
            if exc.response.get("error") != "channel_canvas_already_exists":
                raise
        info = await self.client.conversations_info(channel=audience.channel)
        canvas_id = str((((info.get("channel") or {}).get("properties") or {}).get("canvas") or {}).get("file_id") or "")
        if not canvas_id:
            raise CanvasError("Error: Slack did not say where this channel's canvas is.")
        await self.client.canvases_edit(canvas_id=canvas_id, changes=[
            {"operation": "insert_at_end", "document_content": {"type": "markdown", "markdown": f"## {title}\n\n{content['markdown']}"}}])
        return canvas_id

    async def _named(self, audience: Audience, link: str) -> str:
        """A canvas named by link, if what this conversation holds may be shown wherever it is shared."""
        canvas_id = canvas_id_of(link)
        if canvas_id is None:
            raise CanvasError("Error: that is not a link to a Slack canvas (https://…slack.com/docs/…/F…).")
        info = (await self.client.files_info(file=canvas_id)).get("file") or {}
        shared = [*info.get("channels", []), *info.get("groups", []), *info.get("ims", [])]
        if not shared and info.get("user") != audience.asker:
            raise CanvasError("Error: that canvas is not shared in any conversation and is not the asker's own.")
        for place in shared:
            if place == audience.channel:
                continue
            if await self.may_show(audience.channel, Audience(audience.team, place, audience.asker, False)) is not None:
                raise CanvasError("Error: that canvas is shared where people could not read this conversation, "
                                  "so nothing from it is written there.")
        return canvas_id

    async def _permalink(self, canvas_id: str, team: str) -> str:
        try:
            info: Any = await self.client.files_info(file=canvas_id)
            return str((info.get("file") or {}).get("permalink") or "")
        except SlackApiError:
            return ""
