"""Who will see an answer, and whether content read from Slack may be shown to them.

The one rule every reader of Slack content uses (a linked thread, message or channel,
a ``/summarize`` link, workspace search results): content reaches the model only when
everyone who will read the answer can already read its source in Slack.

- The asker must be able to read the source: a private channel, group DM or DM as a
  member; a public channel as a full member of the workspace (a guest or someone from
  another organisation only as a member of it).
- From a private channel, group DM or DM: only into that same conversation, or to the
  asker alone (an ephemeral reply, their DM with the bot, their assistant thread).
- From a public channel: into that channel, to the asker alone, or, when the asker is
  a full member, into a conversation no other organisation shares.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.slack.calls import call_quietly

log = logging.getLogger(__name__)

MEMBERS_PAGE = 1000
CANNOT_READ = "Error: the person asking cannot read that conversation, so it is not shown."
NOT_HERE = "I can't bring content from {name} into this conversation: ask me in a DM."


@dataclass(frozen=True)
class Audience:
    """Where an answer goes: the conversation it is posted in, for whom."""

    team: str
    channel: str
    asker: str
    only_asker: bool  # an ephemeral reply, the asker's DM with the bot, their assistant thread


@dataclass(frozen=True)
class Source:
    """What Slack says of a conversation content is read from."""

    channel: str
    name: str  # "#name", or "a direct message" / "a group DM"
    private: bool  # a private channel, a DM or a group DM
    shared_out: bool = False  # shared with another organisation (Slack Connect)


@dataclass(frozen=True)
class Asker:
    full_member: bool  # of this workspace: not a guest, not from another organisation
    member_of_source: bool


def verdict(source: Source, audience: Audience, asker: Asker, destination: Source | None) -> str | None:
    """None: the content may be shown; else the sentence to say instead.  Pure."""
    if not asker.member_of_source and (source.private or not asker.full_member):
        return CANNOT_READ
    if source.channel == audience.channel or audience.only_asker:
        return None
    if source.private or not asker.full_member or destination is None or destination.shared_out:
        return NOT_HERE.format(name=source.name)
    return None


class Gate:
    """Asks Slack what :func:`verdict` needs (``conversations.info``, ``users.info`` and,
    where membership matters, ``conversations.members``).  Slack failing to tell is a no."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def check(self, channel: str, audience: Audience) -> str | None:
        info = await self.info(channel)
        if info is None:
            return CANNOT_READ
        source = source_of(info)
        person = await call_quietly("users.info", self.client.users_info(user=audience.asker), level=logging.INFO)
        full = full_member((person or {}).get("user") or {}, audience.team)
        member = await self._member(info, audience.asker) if source.private or not full else False
        destination = None
        if not audience.only_asker and channel != audience.channel and not source.private and full:
            other = await self.info(audience.channel)
            destination = source_of(other) if other is not None else None
        return verdict(source, audience, Asker(full, member), destination)

    async def is_private(self, channel: str) -> bool:
        """Whether ``channel`` is a private channel, DM or group DM (True when Slack cannot tell)."""
        info = await self.info(channel)
        return True if info is None else source_of(info).private

    async def info(self, channel: str) -> dict[str, Any] | None:
        """``conversations.info``'s channel (None when Slack cannot tell): the one place it is asked."""
        response = await call_quietly("conversations.info", self.client.conversations_info(channel=channel),
                                      level=logging.INFO)
        return (response or {}).get("channel") or None

    async def _member(self, info: dict[str, Any], user: str) -> bool:
        if info.get("is_im"):
            return info.get("user") == user
        channel, cursor = str(info.get("id") or ""), None
        while True:
            page = await call_quietly("conversations.members", self.client.conversations_members(
                channel=channel, limit=MEMBERS_PAGE, cursor=cursor), level=logging.INFO)
            if page is None:
                return False
            if user in (page.get("members") or []):
                return True
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return False


def source_of(info: dict[str, Any]) -> Source:
    private = bool(info.get("is_private") or info.get("is_im") or info.get("is_mpim") or info.get("is_group"))
    if info.get("is_im"):
        name = "a direct message"
    elif info.get("is_mpim"):
        name = "a group DM"
    else:
        name = f"#{info.get('name') or info.get('id') or 'a conversation'}"
    shared = bool(info.get("is_ext_shared") or info.get("is_shared") and not info.get("is_org_shared")
                  or info.get("is_pending_ext_shared"))
    return Source(str(info.get("id") or ""), name, private, shared)


def full_member(user: dict[str, Any], team: str) -> bool:
    """A full member of ``team``: not a guest (multi- or single-channel), not from another organisation."""
    if not user or user.get("deleted") or user.get("is_restricted") or user.get("is_ultra_restricted"):
        return False
    if user.get("is_stranger"):
        return False
    home = user.get("team_id")
    return not home or home == team or bool((user.get("enterprise_user") or {}).get("enterprise_id"))
