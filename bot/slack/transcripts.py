"""Slack messages as lines a model reads: ``[time] name: text``, names resolved."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any, Mapping, Sequence

from bot.slack.audience import Audience
from bot.slack.directory import NameDirectory
from bot.slack.history import readable_messages
from bot.slack.text import mentioned_user_ids, to_readable


async def transcript_lines(
    raw: Sequence[Mapping[str, Any]], *, team: str, directory: NameDirectory, bot_user_id: str, bot_id: str,
    bot_name: str, tz: tzinfo | None,
) -> list[str]:
    readable = readable_messages(raw, bot_user_id, bot_id)
    names = await directory.user_names(
        team, [m.user for m in readable if m.user] + [u for m in readable for u in mentioned_user_ids(m.text)])
    lines = []
    for m in readable:
        speaker = bot_name if m.from_this_bot else (names.get(m.user, m.user) if m.user else m.bot_name)
        when = datetime.fromtimestamp(float(m.ts), tz=tz).strftime("%Y-%m-%d %H:%M")
        lines.append(f"[{when}] {speaker}: {to_readable(m.text, names)}")
    return lines


class SlackReaders:
    """What the link-reading tool needs: the membership rule and readable transcripts."""

    def __init__(self, directory: NameDirectory, *, bot_user_id: str, bot_id: str, bot_name: str,
                 tz: tzinfo | None = None) -> None:
        self.directory = directory
        self.bot_user_id, self.bot_id, self.bot_name, self.tz = bot_user_id, bot_id, bot_name, tz

    async def may_show(self, channel: str, audience: Audience) -> str | None:
        return await self.directory.may_show(channel, audience)

    async def transcript(self, team: str, messages: list[dict[str, Any]]) -> str:
        return "\n".join(await transcript_lines(
            messages, team=team, directory=self.directory, bot_user_id=self.bot_user_id, bot_id=self.bot_id,
            bot_name=self.bot_name, tz=self.tz))
