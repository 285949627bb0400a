"""Each workspace's bot token, identity and name, read from its installation and
refreshed before it expires (Slack's token rotation), once across every process.

A refresh token can be spent once: when several processes find a token about to
expire at the same moment, the one that takes the refresh key (``SET NX``) asks
Slack and saves the installation; the others wait for that key to go and read the
installation it saved.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Callable

from redis.asyncio import Redis
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError, SlackTokenRotationError
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from bot.memory.conversation import Keys
from bot.workspaces import context as workspace_context
from bot.workspaces.context import Workspace
from bot.workspaces.installations import RedisInstallationStore
from bot.workspaces.keys import org_teams_key, token_refresh_key

log = logging.getLogger(__name__)

REFRESH_HOLD_SECONDS = 15.0  # how long one process may hold a refresh (Slack's timeout is shorter)
REFRESH_POLL_SECONDS = 0.05
# KEYS: the lock; ARGV: its holder.  Compare-and-delete.
UNLOCK_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
BOT_NAME_FIELD = "bot_name"  # kept in the installation's custom values


def workspace_of(installation: Installation) -> Workspace:
    return Workspace(
        team_id=installation.team_id or "",
        enterprise_id=installation.enterprise_id or "",
        bot_token=installation.bot_token or "",
        bot_user_id=installation.bot_user_id or "",
        bot_id=installation.bot_id or "",
        bot_name=str(installation.get_custom_value(BOT_NAME_FIELD) or ""),
        is_enterprise_install=bool(installation.is_enterprise_install),
    )


class Workspaces:
    """Finds the installation a request or job works for, with a token that is good for a while."""

    def __init__(
        self, installations: RedisInstallationStore, redis: Redis, keys: Keys, *,
        rotator: AsyncTokenRotator | None, refresh_minutes: int, clock: Callable[[], float] = time.time,
        audit: Any = None,
    ) -> None:
        self.audit = audit  # bot.operations.audit.AuditLog: installs and uninstalls are recorded
        self.installations = installations
        self.redis = redis
        self.keys = keys
        self.rotator = rotator
        self.refresh_minutes = refresh_minutes
        self.clock = clock
        self._org_teams_noted: set[tuple[str, str]] = set()  # (enterprise, team) already in Redis's set
        self._unlock = redis.register_script(UNLOCK_SCRIPT)

    def _expiring(self, installation: Installation) -> bool:
        expires = installation.bot_token_expires_at
        return expires is not None and expires <= self.clock() + self.refresh_minutes * 60

    async def find(self, *, team_id: str, enterprise_id: str = "", is_enterprise_install: bool = False) -> Workspace | None:
        installation = await self.installations.async_find_installation(
            enterprise_id=enterprise_id or None, team_id=team_id or None, is_enterprise_install=is_enterprise_install)
        if installation is None or not installation.bot_token:
            return None
        if self.rotator is not None and installation.bot_refresh_token and self._expiring(installation):
            installation = await self._refreshed(installation)
            if installation is None:
                return None
        found = workspace_of(installation)
        if found.is_enterprise_install and team_id:  # an org-wide install: the workspace the work is in
            found = Workspace(team_id, found.enterprise_id, found.bot_token, found.bot_user_id, found.bot_id,
                              found.bot_name, True)
            if (found.enterprise_id, team_id) not in self._org_teams_noted:  # so uninstalling forgets it too
                await self.redis.sadd(org_teams_key(self.keys, found.enterprise_id), team_id)
                self._org_teams_noted.add((found.enterprise_id, team_id))
        return found

    async def _refreshed(self, installation: Installation) -> Installation | None:
        org = bool(installation.is_enterprise_install)
        lock = token_refresh_key(self.keys, installation.enterprise_id or "" if org else "", "" if org else installation.team_id or "")
        holder = f"{os.getpid()}:{id(self)}:{time.monotonic()}"
        deadline = time.monotonic() + REFRESH_HOLD_SECONDS * 2
        while True:
            if await self.redis.set(lock, holder, nx=True, px=int(REFRESH_HOLD_SECONDS * 1000)):
                try:
                    return await self._refresh_holding(installation)
                finally:  # only our own key: one that lapsed may be another process's by now
                    await self._unlock(keys=[lock], args=[holder])
            # Another process is refreshing: wait for it to finish, then read what it saved.
            while await self.redis.exists(lock):
                if time.monotonic() > deadline:
                    return installation
                await asyncio.sleep(REFRESH_POLL_SECONDS)
            saved = await self.installations.async_find_installation(
                enterprise_id=installation.enterprise_id, team_id=installation.team_id,
                is_enterprise_install=installation.is_enterprise_install)
            if saved is None:
                return None  # uninstalled meanwhile
            if not self._expiring(saved):
                return saved
            installation = saved  # the other process failed: try ourselves

    async def _refresh_holding(self, stale: Installation) -> Installation | None:
        assert self.rotator is not None
        # Read again under the key: a process that finished a moment ago has saved new tokens.
        current = await self.installations.async_find_installation(
            enterprise_id=stale.enterprise_id, team_id=stale.team_id, is_enterprise_install=stale.is_enterprise_install)
        if current is None:
            return None
        if not self._expiring(current):
            return current
        try:
            rotated = await self.rotator.perform_token_rotation(installation=current,
                                                                minutes_before_expiration=self.refresh_minutes)
        except (SlackTokenRotationError, SlackApiError) as exc:
            api_error = getattr(exc, "api_error", exc)
            reason = api_error.response.get("error") if isinstance(api_error, SlackApiError) else type(exc).__name__
            log.error("could not refresh the token of workspace %s (%s): reinstall the app there if this goes on",
                      current.team_id or current.enterprise_id, reason)
            return current if current.bot_token_expires_at and current.bot_token_expires_at > self.clock() else None
        if rotated is None:
            return current
        await self.installations.async_save(rotated)
        log.info("refreshed the token of workspace %s", rotated.team_id or rotated.enterprise_id)
        return rotated

    async def authorize(self, enterprise_id: str | None, team_id: str | None, context: Any = None) -> AuthorizeResult | None:
        """Bolt's ``authorize``: the installation of the request's workspace, entered as the
        workspace this request works for."""
        org_wide = bool(getattr(context, "is_enterprise_install", False))
        workspace = await self.find(team_id=team_id or "", enterprise_id=enterprise_id or "", is_enterprise_install=org_wide)
        if workspace is None:
            log.warning("no installation for workspace %s: request not handled", team_id or enterprise_id)
            return None
        workspace_context.enter(workspace)
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=workspace.bot_token,
                               bot_id=workspace.bot_id, bot_user_id=workspace.bot_user_id)


async def bot_name(client: AsyncWebClient, token: str, bot_user_id: str) -> str:
    """The bot's display name in a workspace (read once, when it is installed)."""
    try:
        response = await client.users_info(token=token, user=bot_user_id)
    except Exception:  # a name is nice to have: never a reason to refuse an installation
        return ""
    user = response.get("user") or {}
    profile = user.get("profile") or {}
    return str(profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name") or "")
