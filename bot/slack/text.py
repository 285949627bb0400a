"""Pure functions turning Slack message markup into text a model can read."""

from __future__ import annotations

import re
from typing import Mapping

_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_CHANNEL_MENTION = re.compile(r"<#([CGD][A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_SUBTEAM = re.compile(r"<!subteam\^[A-Z0-9]+(?:\|([^>]*))?>")
_DATE = re.compile(r"<!date\^[^|>]*\|([^>]*)>")
_LINK = re.compile(r"<((?:https?|mailto|tel):[^|>]+)(?:\|([^>]*))?>")


def strip_bot_mention(text: str, bot_user_id: str) -> str:
    """Remove every mention of the bot and tidy the white space it leaves."""
    if not bot_user_id:
        return text.strip()
    cleaned = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>[,:]?", " ", text)
    return re.sub(r"[ \t]{2,}", " ", cleaned).strip()


def mentions_user(text: str, user_id: str) -> bool:
    return bool(user_id) and f"<@{user_id}" in text


def mentioned_user_ids(text: str) -> list[str]:
    """User ids mentioned in ``text``, first occurrence order, no repeats."""
    seen: dict[str, None] = {}
    for match in _USER_MENTION.finditer(text):
        seen.setdefault(match.group(1), None)
    return list(seen)


def to_readable(text: str, names: Mapping[str, str]) -> str:
    """Slack markup to plain text: ``<@U1>`` becomes ``@Name``, links show their
    label and address, channel and group mentions keep their names, and the
    three escaped characters are restored."""

    def user(match: re.Match[str]) -> str:
        return "@" + (names.get(match.group(1)) or match.group(2) or match.group(1))

    def channel(match: re.Match[str]) -> str:
        return "#" + (match.group(2) or match.group(1))

    def link(match: re.Match[str]) -> str:
        url, label = match.group(1), match.group(2)
        if label and label != url:
            return f"{label} ({url})"
        return url.removeprefix("mailto:")

    text = _USER_MENTION.sub(user, text)
    text = _CHANNEL_MENTION.sub(channel, text)
    text = _SPECIAL.sub(lambda m: "@" + m.group(1), text)
    text = _SUBTEAM.sub(lambda m: m.group(1) or "@group", text)
    text = _DATE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(link, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


_PLAIN_BROADCAST = re.compile(r"(?<![\w@])@(channel|here|everyone)\b", re.IGNORECASE)
WORD_JOINER = "\u2060"  # invisible: "@here" reads the same but is no longer a mention


def defuse_broadcasts(text: str) -> str:
    """Model text with every special mention (``<!channel>``, ``<!here>``,
    ``<!everyone>``, user groups ``<!subteam^…>``, and their plain ``@here``
    forms) shown as text instead of pinging anyone."""
    text = _SPECIAL.sub(lambda m: f"@{WORD_JOINER}{m.group(1)}", text)
    text = _SUBTEAM.sub(lambda m: (m.group(1) or "@group").replace("@", "@" + WORD_JOINER, 1), text)
    return _PLAIN_BROADCAST.sub(lambda m: f"@{WORD_JOINER}{m.group(1)}", text)
