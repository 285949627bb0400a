"""Installations and OAuth state in Redis, behind Bolt's (slack-sdk's) store interfaces.

One key per installation, a JSON document of slack-sdk's ``Installation``, encrypted
(``sealing.py``: its tokens never sit in Redis in plain text); an org-wide (Enterprise
Grid) install is kept under its enterprise with no team, as slack-sdk's own stores do.
An installation written in plain text or with an older key is written again with the
first key when it is read (only if it has not changed meanwhile).  OAuth states are
single-use keys that expire.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime
from typing import Any, Optional

from redis.asyncio import Redis
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from bot.memory.conversation import Keys, as_text
from bot.workspaces.sealing import Sealer, SealError
from bot.workspaces.keys import installation_key, installation_pattern, oauth_state_key

log = logging.getLogger(__name__)


def _plain(name: str, value: Any) -> Any:
    """Times as numbers (expiry times as whole seconds, as slack-sdk reads them back)."""
    if not isinstance(value, datetime):
        return value
    return int(value.timestamp()) if name.endswith("expires_at") else value.timestamp()


def installation_to_json(installation: Installation) -> str:
    return json.dumps({k: _plain(k, v) for k, v in installation.to_dict_for_copying().items()}, separators=(",", ":"))


def installation_from_json(raw: str | bytes) -> Installation:
    return Installation(**json.loads(raw))


# KEYS: the installation; ARGV: the value read, the value to write instead
RESEAL_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


class RedisInstallationStore(AsyncInstallationStore):
    def __init__(self, redis: Redis, keys: Keys, sealer: Sealer) -> None:
        self.redis = redis
        self.keys = keys
        self.sealer = sealer
        self._reseal = redis.register_script(RESEAL_SCRIPT)

    @property
    def logger(self) -> logging.Logger:
        return log

    def _key(self, enterprise_id: Optional[str], team_id: Optional[str], is_enterprise_install: Optional[bool]) -> str:
        """A workspace's install by its team alone; an org-wide install by its enterprise alone."""
        if is_enterprise_install:
            return installation_key(self.keys, enterprise_id or "", "")
        return installation_key(self.keys, "", team_id or "")

    async def async_save(self, installation: Installation) -> None:
        await self.redis.set(self._key(installation.enterprise_id, installation.team_id, installation.is_enterprise_install),
                             self.sealer.seal(installation_to_json(installation)))

    async def async_save_bot(self, bot: Bot) -> None:  # the installation carries its bot
        return None

    async def async_find_installation(
        self, *, enterprise_id: Optional[str], team_id: Optional[str], user_id: Optional[str] = None,
        is_enterprise_install: Optional[bool] = False,
    ) -> Optional[Installation]:
        key = self._key(enterprise_id, team_id, is_enterprise_install)
        raw = await self.redis.get(key)
        if raw is None and enterprise_id and not is_enterprise_install:
            # an event from a workspace of an org where the app is installed org-wide
            key = self._key(enterprise_id, None, True)
            raw = await self.redis.get(key)
        return None if raw is None else await self._opened(key, as_text(raw))

    async def _opened(self, key: str, raw: str) -> Optional[Installation]:
        try:
            text, stale = self.sealer.open(raw)
        except SealError as exc:
            log.error("an installation could not be read (%s): is TOKEN_ENCRYPTION_KEY right?", exc)
            return None
        if stale:
            await self._reseal(keys=[key], args=[raw, self.sealer.seal(text)])
        return installation_from_json(text)

    async def async_find_bot(
        self, *, enterprise_id: Optional[str], team_id: Optional[str], is_enterprise_install: Optional[bool] = False,
    ) -> Optional[Bot]:
        found = await self.async_find_installation(enterprise_id=enterprise_id, team_id=team_id,
                                                   is_enterprise_install=is_enterprise_install)
        return None if found is None or not found.bot_token else found.to_bot()

    async def async_delete_installation(
        self, *, enterprise_id: Optional[str], team_id: Optional[str], user_id: Optional[str] = None,
    ) -> None:
        await self.redis.delete(self._key(enterprise_id, team_id, not team_id))

    async def async_delete_bot(self, *, enterprise_id: Optional[str], team_id: Optional[str]) -> None:
        await self.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_all(self, *, enterprise_id: Optional[str], team_id: Optional[str]) -> None:
        await self.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id)

    async def count(self) -> int:
        return len([key async for key in self.redis.scan_iter(match=installation_pattern(self.keys), count=500)])


class RedisOAuthStateStore(AsyncOAuthStateStore):
    """States issued by the install page; each one can be spent once, within ``expiration_seconds``."""

    def __init__(self, redis: Redis, keys: Keys, expiration_seconds: int = 600) -> None:
        self.redis = redis
        self.keys = keys
        self.expiration_seconds = expiration_seconds

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(24)
        await self.redis.set(oauth_state_key(self.keys, state), "1", ex=self.expiration_seconds)
        return state

    async def async_consume(self, state: str) -> bool:
        if not state:
            return False
        return await self.redis.getdel(oauth_state_key(self.keys, state)) is not None
