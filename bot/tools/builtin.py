"""Tools that need no MCP server, each switched on by a setting: the current time
in the asker's time zone, reading a Slack thread or channel by link (only what the
asker can read), searching the workspace for the asker (Slack's search for AI apps), and
writing a canvas (with the asker's approval; bot/slack/canvases.py)."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.audience import CANNOT_READ, Audience
from bot.slack.canvases import CHANNEL, LINKED, NEW, CanvasError, CanvasWriter
from bot.tools.base import Source, ToolContext, ToolOutcome, ToolSpec

log = logging.getLogger(__name__)

CURRENT_TIME, READ_SLACK_LINK, SEARCH_WORKSPACE = "current_time", "read_slack_link", "search_workspace"
WRITE_CANVAS = "write_canvas"
LINK = re.compile(r"https://[\w.-]*slack\.com/archives/([CGD][A-Z0-9]+)(?:/p(\d{10})(\d{6}))?(?:\?([^\s>|]*))?")
LINK_MESSAGES = 100
SEARCH_RESULTS = 10
TIMEZONE_CACHE = 1024


class Readers(Protocol):
    """What the link reader needs from Slack (see bot.slack.directory and history)."""

    async def may_show(self, channel: str, audience: Audience) -> str | None: ...

    async def transcript(self, team: str, messages: list[dict[str, Any]]) -> str: ...


SPECS = {
    CURRENT_TIME: ToolSpec(
        CURRENT_TIME, "The current date and time in the time zone of the person asking.",
        {"type": "object", "properties": {}}, title="Checking the time"),
    READ_SLACK_LINK: ToolSpec(
        READ_SLACK_LINK,
        "Read the Slack thread, message or channel a Slack link points at (https://…slack.com/archives/…). "
        "Returns the messages as 'name: text' lines.",
        {"type": "object", "properties": {"url": {"type": "string", "description": "The Slack link."}},
         "required": ["url"]}, title="Reading a Slack link"),
    SEARCH_WORKSPACE: ToolSpec(
        SEARCH_WORKSPACE,
        "Search the Slack workspace's messages for the person asking (only what they can see).",
        {"type": "object", "properties": {"query": {"type": "string", "description": "What to search for."}},
         "required": ["query"]}, title="Searching Slack"),
    WRITE_CANVAS: ToolSpec(
        WRITE_CANVAS,
        "Write Markdown to a Slack canvas: a new canvas (shared with the people of this conversation), this "
        "channel's own canvas, or a section at the end of a canvas the person names by its link. Returns the "
        "canvas's link: give it in the answer.",
        {"type": "object", "properties": {
            "title": {"type": "string", "description": "The canvas's title (or the new section's heading)."},
            "markdown": {"type": "string", "description": "What to write, in Markdown."},
            "target": {"type": "string", "enum": [NEW, CHANNEL, LINKED],
                       "description": "new (default), channel (this channel's canvas), or link (the canvas at `link`)."},
            "link": {"type": "string", "description": "With target link: the canvas's link (https://…slack.com/docs/…)."}},
         "required": ["title", "markdown"]}, title="Writing a canvas", confirm=True),
}


class BuiltinTools:
    """A tool provider; ``enabled`` names the tools switched on."""

    def __init__(self, client: AsyncWebClient, readers: Readers, *, enabled: set[str],
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc), canvases: CanvasWriter | None = None) -> None:
        self.client = client
        self.readers = readers
        self.canvases = canvases or CanvasWriter(client, readers.may_show)
        self.enabled = [name for name in SPECS if name in enabled]
        self.now = now
        self._zones: dict[tuple[str, str], str] = {}
        self._run: dict[str, Callable[[dict[str, Any], ToolContext], Awaitable[ToolOutcome]]] = {
            CURRENT_TIME: self.current_time, READ_SLACK_LINK: self.read_link, SEARCH_WORKSPACE: self.search,
            WRITE_CANVAS: self.write_canvas,
        }

    def tools(self) -> list[ToolSpec]:
        return [SPECS[name] for name in self.enabled]

    async def call(self, spec: ToolSpec, arguments: dict[str, Any], context: ToolContext) -> ToolOutcome:
        return await self._run[spec.name](arguments, context)

    # ------------------------------------------------------------------
    async def current_time(self, arguments: dict[str, Any], context: ToolContext) -> ToolOutcome:
        zone_name = await self._zone(context.team, context.user)
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            zone, zone_name = ZoneInfo("UTC"), "UTC"
        local = self.now().astimezone(zone)
        return ToolOutcome(f"{local:%A, %d %B %Y, %H:%M} ({zone_name}, UTC{local:%z})")

    async def _zone(self, team: str, user: str) -> str:
        key = (team, user)
        if key not in self._zones:
            try:
                response = await self.client.users_info(user=user)
                zone = str((response.get("user") or {}).get("tz") or "UTC")
            except Exception as exc:  # Slack cannot tell: UTC, said as such
                log.info("users.info for a time zone failed: %s", type(exc).__name__)
                return "UTC"
            if len(self._zones) >= TIMEZONE_CACHE:
                self._zones.clear()
            self._zones[key] = zone
        return self._zones[key]

    async def read_link(self, arguments: dict[str, Any], context: ToolContext) -> ToolOutcome:
        url = str(arguments.get("url") or "")
        match = LINK.search(url)
        if match is None:
            return ToolOutcome("Error: that is not a link to a Slack message or channel.", ok=False)
        channel, seconds, micros, query = match.groups()
        refused = await self.readers.may_show(channel, context.audience)
        if refused is not None:
            return ToolOutcome(refused, ok=False)
        thread = re.search(r"thread_ts=(\d+\.\d+)", query or "")
        ts = thread.group(1) if thread else (f"{seconds}.{micros}" if seconds else None)
        try:
            if ts is not None:
                response = await self.client.conversations_replies(channel=channel, ts=ts, limit=LINK_MESSAGES)
            else:
                response = await self.client.conversations_history(channel=channel, limit=LINK_MESSAGES)
        except SlackApiError as exc:
            return ToolOutcome(f"Error: Slack would not give that conversation ({exc.response.get('error')}).", ok=False)
        messages = list(response.get("messages") or [])
        if ts is None:
            messages.reverse()  # history comes newest first
        if not messages:
            return ToolOutcome("(no messages)", sources=[Source(url, "Slack link")])
        return ToolOutcome(await self.readers.transcript(context.team, messages), sources=[Source(url, "Slack link")])

    async def search(self, arguments: dict[str, Any], context: ToolContext) -> ToolOutcome:
        query = str(arguments.get("query") or "").strip()
        if not query:
            return ToolOutcome("Error: say what to search for.", ok=False)
        if not context.action_token:
            return ToolOutcome("Error: search works only on a message someone sent (Slack gave no action token).", ok=False)
        try:
            response = await self.client.assistant_search_context(
                query=query, action_token=context.action_token, limit=SEARCH_RESULTS)
        except SlackApiError as exc:
            return ToolOutcome(f"Error: workspace search is not available here ({exc.response.get('error')}).", ok=False)
        found = ((response.get("results") or {}).get("messages")) or []
        shown, withheld = await self._showable(found, context)
        if not shown:
            return ToolOutcome(withheld or "No messages found.")
        lines, sources = [], []
        for item in shown:
            where = item.get("channel_name") or item.get("channel_id") or ""
            who = item.get("author_name") or item.get("author_user_id") or "someone"
            lines.append(f"[#{where}] {who}: {item.get('content') or ''}".strip())
            if item.get("permalink"):
                sources.append(Source(str(item["permalink"]), f"#{where}" if where else "message"))
        return ToolOutcome("\n".join([*lines, *([withheld] if withheld else [])]), sources=sources)

    async def _showable(self, found: list[dict[str, Any]], context: ToolContext) -> tuple[list[dict[str, Any]], str]:
        """The results this answer's audience may see, and a line for the ones left out."""
        verdicts: dict[str, str | None] = {}
        for channel in dict.fromkeys(str(item.get("channel_id") or "") for item in found):
            verdicts[channel] = await self.readers.may_show(channel, context.audience) if channel else CANNOT_READ
        shown = [item for item in found if verdicts[str(item.get("channel_id") or "")] is None]
        left_out = len(found) - len(shown)
        line = (f"({left_out} result{'s' if left_out != 1 else ''} from conversations that can't be shown in this "
                "conversation were left out: ask me in a DM to see them.)") if left_out else ""
        return shown, line

    async def write_canvas(self, arguments: dict[str, Any], context: ToolContext) -> ToolOutcome:
        target = str(arguments.get("target") or NEW)
        if target not in (NEW, CHANNEL, LINKED):
            return ToolOutcome(f"Error: target is one of {NEW}, {CHANNEL} or {LINKED}.", ok=False)
        try:
            written = await self.canvases.write(context.audience, title=str(arguments.get("title") or ""),
                                                markdown=str(arguments.get("markdown") or ""), target=target,
                                                link=str(arguments.get("link") or ""))
        except CanvasError as exc:
            return ToolOutcome(str(exc), ok=False)
        where = f": {written.link}" if written.link else f" (canvas {written.canvas_id})"
        return ToolOutcome(f"Written to the canvas “{written.title}”{where}",
                           sources=[Source(written.link, written.title)] if written.link else [])

