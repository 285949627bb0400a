"""Readable names for Slack users and channels, cached in Redis and in process,
and whether a conversation's content may be shown to an answer's audience.

Slack limits ``users.info`` and ``conversations.info`` (Tier 4 / Tier 3), so a
name is looked up once a day at most, one lookup per id however many messages
wait on it, a few at a time; when Slack cannot say, the id is used.  Names are
cleaned before they enter a prompt; with a user's name comes whether they are a guest,
from another organisation or a bot (their turns are marked so: bot/llm/speakers.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Iterable, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from bot.llm.speakers import clean_name
from bot.memory.store import ConversationStore
from bot.slack.audience import Audience, Gate, full_member
from bot.slack.calls import call_quietly

log = logging.getLogger(__name__)

LOCAL_CACHE_LIMIT = 10_000
USER_KEY = "u2:"  # users are cached with their trust (names cached before it are not read)
CONCURRENT_LOOKUPS = 8


TRUST_SEPARATOR = "\t"  # a cleaned name holds no control character: "name", or "name<TAB>trust"


class NameDirectory(Protocol):
    async def user_names(self, team: str, users: Iterable[str]) -> dict[str, str]: ...

    async def user_trusts(self, team: str, users: Iterable[str]) -> dict[str, str]: ...

    async def user_name(self, team: str, user: str) -> str: ...

    async def channel_name(self, team: str, channel: str) -> str: ...

    async def channel_creator(self, team: str, channel: str) -> str | None: ...

    async def may_show(self, channel: str, audience: Audience) -> str | None: ...

    async def user_tz(self, team: str, user: str) -> str: ...


class Directory:
    def __init__(self, client: AsyncWebClient, store: ConversationStore) -> None:
        self.client = client
        self.store = store
        self.gate = Gate(client)  # conversations.info and the audience rule (bot/slack/audience.py)
        self._local: dict[tuple[str, str], str] = {}
        self._in_flight: dict[tuple[str, str], asyncio.Future[str]] = {}
        self._lookups = asyncio.Semaphore(CONCURRENT_LOOKUPS)

    async def user_names(self, team: str, users: Iterable[str]) -> dict[str, str]:
        unique = list(dict.fromkeys(users))
        names = await asyncio.gather(*(self.user_name(team, user) for user in unique))
        return dict(zip(unique, names))

    async def user_name(self, team: str, user: str) -> str:
        return (await self._user(team, user))[0]

    async def user_trusts(self, team: str, users: Iterable[str]) -> dict[str, str]:
        """Who of ``users`` is not a full member of ``team``: "guest", "external" (another
        organisation) or "bot"; full members are left out.  From the same lookup as names."""
        unique = list(dict.fromkeys(users))
        found = await asyncio.gather(*(self._user(team, user) for user in unique))
        return {user: trust for user, (_, trust) in zip(unique, found) if trust}

    async def _user(self, team: str, user: str) -> tuple[str, str]:
        """(name, trust) of a user: one users.info, cached with the name."""
        entry = await self._cached(team, USER_KEY + user, lambda key: self._fetch_user(team, key))
        name, _, trust = entry.partition(TRUST_SEPARATOR)
        return (user if name == USER_KEY + user else name), trust

    async def channel_name(self, team: str, channel: str) -> str:
        return await self._cached(team, channel, self._fetch_channel)

    async def user_tz(self, team: str, user: str) -> str:
        """A user's Slack time zone (IANA name; "UTC" when Slack cannot tell).  Not cached: asked
        when a schedule is made."""
        response = await call_quietly("users.info", self.client.users_info(user=user), level=logging.INFO)
        return str(((response or {}).get("user") or {}).get("tz") or "UTC")

    async def channel_creator(self, team: str, channel: str) -> str | None:
        """Who created ``channel`` (not cached: asked only for permission checks)."""
        return ((await self.gate.info(channel)) or {}).get("creator") or None

    async def is_private(self, channel: str) -> bool:
        """Whether ``channel`` is a private channel, DM or group DM (True when Slack cannot tell)."""
        return await self.gate.is_private(channel)

    async def may_show(self, channel: str, audience: Audience) -> str | None:
        """None when content of ``channel`` may be shown to ``audience``; else the sentence
        to say instead (the rule: bot/slack/audience.py)."""
        return await self.gate.check(channel, audience)

    async def _cached(self, team: str, key: str, fetch: Callable[[str], Awaitable[str | None]]) -> str:
        local_key = (team, key)
        name = self._local.get(local_key)
        if name is not None:
            return name
        waiting = self._in_flight.get(local_key)
        if waiting is not None:  # someone is looking this id up already: share the answer
            return await asyncio.shield(waiting)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._in_flight[local_key] = future
        try:
            name = await self._look_up(team, key, fetch)
            future.set_result(name)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            del self._in_flight[local_key]
        return name

    async def _look_up(self, team: str, key: str, fetch: Callable[[str], Awaitable[str | None]]) -> str:
        name = await self.store.get_name(team, key)
        if name is None:
            async with self._lookups:
                name = await fetch(key)
            if name is None:
                return key  # not cached: try again next time
            await self.store.set_name(team, key, name)
        if len(self._local) >= LOCAL_CACHE_LIMIT:
            self._local.clear()
        self._local[(team, key)] = name
        return name

    async def _fetch_user(self, team: str, key: str) -> str | None:
        user = key.removeprefix(USER_KEY)
        response = await call_quietly("users.info", self.client.users_info(user=user), level=logging.INFO)
        info = (response or {}).get("user") or {}
        profile = info.get("profile") or {}
        name = profile.get("display_name") or profile.get("real_name") or info.get("real_name") or info.get("name")
        if not name:
            return None
        trust = trust_of(info, team)
        return clean_name(name, user) + (TRUST_SEPARATOR + trust if trust else "")

    async def _fetch_channel(self, channel: str) -> str | None:
        response = await call_quietly("conversations.info", self.client.conversations_info(channel=channel), level=logging.INFO)
        name = ((response or {}).get("channel") or {}).get("name")
        return clean_name(f"#{name}", channel) if name else None


def trust_of(user: dict[str, Any], team: str) -> str:
    """"bot", "guest", "external" (a Slack Connect user of another organisation), or "" for a
    full member of ``team``."""
    if user.get("is_bot") or user.get("is_app_user"):
        return "bot"
    if user.get("is_restricted") or user.get("is_ultra_restricted"):
        return "guest"
    return "" if user.get("deleted") or full_member(user, team) else "external"
