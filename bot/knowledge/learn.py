"""``/assistant learn <link>``: a Slack thread or canvas becomes team knowledge for the
conversation the command is used in (its answers only), and ``/assistant learn remove <link>``
forgets it.  The channel's creator or a bot admin may (anyone in their own DM with the bot).

Who may learn what follows the audience rule (bot/slack/audience.py): a thread only when
everyone who reads this conversation's answers could read it in Slack (so a private thread
only into its own channel or the asker's DM), a canvas only when it is shared in this
conversation.  Learning again replaces what was learned from the same link."""

from __future__ import annotations

import logging
import re
from typing import Any, Awaitable, Callable

from slack_sdk.errors import SlackApiError

from bot.command_args import ArgumentError, parse_history
from bot.knowledge.library import KnowledgeError
from bot.knowledge.records import audience_tag, source_id
from bot.llm.errors import ModelError
from bot.slack.audience import CANNOT_READ, Audience
from bot.slack.history import HistoryUnavailable

log = logging.getLogger(__name__)

MAX_MESSAGES = 1000  # of one thread
MAX_CHARS = 2_000_000  # of what is learned from one link (a book is about 500,000)
_CANVAS = re.compile(r"^https://[^/\s]+\.slack\.com/(?:docs/[A-Z0-9]+|files/[A-Z0-9]+)/(F[A-Z0-9]+)")
NOT_ALLOWED = "Only the channel's creator or a bot admin can change what I learn here."
UNREADABLE = "I can't read that {what}: Slack would not give it to me (am I in that channel?)."
NOT_SHARED_HERE = "I can learn a canvas only when it is shared in this conversation."


def link_of(text: str) -> str:
    return text.strip().strip("<>").split("|", 1)[0]


def location_of(link: str) -> str | None:
    """What a link's source is kept as, whatever form the link takes: ``slack:C…:ts`` for a
    thread, ``slack:F…`` for a canvas (None: neither)."""
    canvas = _CANVAS.match(link)
    if canvas is not None:
        return f"slack:{canvas.group(1)}"
    try:
        wanted = parse_history(link)
    except ArgumentError:
        return None
    return f"slack:{wanted.channel}:{wanted.thread_ts}" if wanted.channel and wanted.thread_ts else None


class Learning:
    def __init__(self, *, library: Any, client: Any, history: Any, directory: Any, transcript: Any,
                 command: str, audit: Any = None) -> None:
        self.library, self.client, self.history = library, client, history
        self.directory, self.transcript, self.command, self.audit = directory, transcript, command, audit

    async def handle(self, request: Any, text: str, may_manage: Callable[[], Awaitable[bool]]) -> str:
        action, _, rest = text.partition(" ")
        removing = action.lower() == "remove"
        link = link_of(rest if removing else text)
        if not link:
            return (f"Usage: `{self.command} learn <link to a thread or canvas>` (answers here can then use it), "
                    f"`{self.command} learn remove <link>`.")
        location = location_of(link)
        if location is None:
            return "Give me a link to a thread (Copy link on its first message) or to a canvas."
        if not await may_manage():
            return NOT_ALLOWED
        audience = audience_tag(channel=request.channel)
        if removing:
            gone = await self.library.remove(source_id(location, audience))
            return f"Forgotten: {gone[0].name}." if gone else "I had not learned that link here."
        try:
            found = await self._read(request, link)
            if isinstance(found, str):
                return found
            name, body = found
            added = await self.library.add(location=location, name=name, link=link, text=body, audience=audience,
                                           added_by=request.user)
        except KnowledgeError as exc:
            return f"I can't learn that: {exc}."
        except ModelError as exc:
            log.warning("learning %s failed: embeddings %s", link, exc.kind)
            return "I can't learn that right now: the embeddings model did not answer. Try again in a minute."
        if self.audit is not None:
            await self.audit.record("knowledge.learn", team=request.team, user=request.user, channel=request.channel,
                                    source=added.record.id, passages=added.record.passages)
        verb = {"added": "Learned", "replaced": "Learned again", "unchanged": "Already learned"}[added.status]
        return (f"{verb} {name} ({added.record.passages} passages): my answers here can use it, and cite it. "
                f"`{self.command} learn remove <link>` forgets it.")

    async def _read(self, request: Any, link: str) -> tuple[str, str] | str:
        """(name, text) of the linked thread or canvas, or the sentence why not."""
        canvas = _CANVAS.match(link)
        if canvas is not None:
            return await self._canvas(request, canvas.group(1))
        wanted = parse_history(link)
        assert wanted.channel is not None and wanted.thread_ts is not None  # location_of said so
        refused = await self.directory.may_show(wanted.channel, Audience(request.team, request.channel, request.user,
                                                                          only_asker=request.direct))
        if refused is not None:
            return "You can't read that conversation, so I won't learn it." if refused == CANNOT_READ else refused
        try:
            raw = await self.history.thread(wanted.channel, wanted.thread_ts, MAX_MESSAGES)
        except HistoryUnavailable:
            return UNREADABLE.format(what="thread")
        lines = await self.transcript(request.team, raw)
        where = await self.directory.channel_name(request.team, wanted.channel)
        return f"a thread in {where}", "\n\n".join(lines)[:MAX_CHARS]

    async def _canvas(self, request: Any, canvas_id: str) -> tuple[str, str] | str:
        try:
            info = (await self.client.files_info(file=canvas_id)).get("file") or {}
            shared = {*info.get("channels", []), *info.get("groups", []), *info.get("ims", [])}
            if request.channel not in shared:
                return NOT_SHARED_HERE
            content = await self.client.api_call("canvases.getContent",
                                                 json={"canvas_id": canvas_id, "content_type": "markdown"})
        except SlackApiError as exc:
            log.info("cannot read canvas %s: %s", canvas_id, exc.response.get("error"))
            return UNREADABLE.format(what="canvas")
        title = str(info.get("title") or info.get("name") or "a canvas")
        return f"the canvas {title}", f"# {title}\n\n{content.get('content') or ''}"[:MAX_CHARS]
