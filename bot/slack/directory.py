"""Readable names for Slack users and channels, cached in Redis and in process.

Slack limits ``users.info`` and ``conversations.info`` (Tier 4 / Tier 3), so a
name is looked up once a day at most; when Slack cannot say, the id is used.
"""

from __future__ import annotations

import logging
from typing import Iterable, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.memory.store import ConversationStore

log = logging.getLogger(__name__)

LOCAL_CACHE_LIMIT = 10_000


class NameDirectory(Protocol):
    async def user_names(self, team: str, users: Iterable[str]) -> dict[str, str]: ...

    async def user_name(self, team: str, user: str) -> str: ...

    async def channel_name(self, team: str, channel: str) -> str: ...

    async def channel_creator(self, team: str, channel: str) -> str | None: ...


class Directory:
    def __init__(self, client: AsyncWebClient, store: ConversationStore) -> None:
        self.client = client
        self.store = store
        self._local: dict[tuple[str, str], str] = {}

    async def user_names(self, team: str, users: Iterable[str]) -> dict[str, str]:
        return {user: await self.user_name(team, user) for user in dict.fromkeys(users)}

    async def user_name(self, team: str, user: str) -> str:
        return await self._cached(team, user, self._fetch_user)

    async def channel_name(self, team: str, channel: str) -> str:
        return await self._cached(team, channel, self._fetch_channel)

    async def channel_creator(self, team: str, channel: str) -> str | None:
        """Who created ``channel`` (not cached: asked only for permission checks)."""
        try:
            response = await self.client.conversations_info(channel=channel)
        except Exception as exc:
            log.info("conversations.info failed: %s", type(exc).__name__)
            return None
        return (response.get("channel") or {}).get("creator") or None

    async def _cached(self, team: str, key: str, fetch) -> str:  # type: ignore[no-untyped-def]
        local_key = (team, key)
        name = self._local.get(local_key)
        if name is not None:
            return name
        name = await self.store.get_name(team, key)
        if name is None:
            name = await fetch(key)
            if name is None:
                return key  # not cached: try again next time
            await self.store.set_name(team, key, name)
        if len(self._local) >= LOCAL_CACHE_LIMIT:
            self._local.clear()
        self._local[local_key] = name
        return name

    async def _fetch_user(self, user: str) -> str | None:
        try:
            response = await self.client.users_info(user=user)
        except SlackApiError as exc:
            log.info("users.info failed: %s", exc.response.get("error"))
            return None
        except Exception as exc:
            log.info("users.info failed: %s", type(exc).__name__)
            return None
        info = response.get("user") or {}
        profile = info.get("profile") or {}
        return profile.get("display_name") or profile.get("real_name") or info.get("real_name") or info.get("name") or None

    async def _fetch_channel(self, channel: str) -> str | None:
        try:
            response = await self.client.conversations_info(channel=channel)
        except SlackApiError as exc:
            log.info("conversations.info failed: %s", exc.response.get("error"))
            return None
        except Exception as exc:
            log.info("conversations.info failed: %s", type(exc).__name__)
            return None
        name = (response.get("channel") or {}).get("name")
        return f"#{name}" if name else None
