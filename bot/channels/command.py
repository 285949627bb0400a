"""``/assistant config show | set <key> <value> | unset <key>``: a channel's settings, changed
by its creator or an admin (anyone in their own DM with the bot), read by anyone there."""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from bot.operations.audit import AuditLog
from bot.channels.config import HINTS, KEYS, ConfigError, ConfigPolicy, describe, stored_value
from bot.memory.store import ConversationStore
from bot.usage.quotas import QuotaLimits

log = logging.getLogger(__name__)

NOT_ALLOWED_TO_CONFIGURE = "Only the channel's creator or a bot admin can change its settings."


class ChannelSettings:
    def __init__(self, *, command: str, store: ConversationStore, policy: ConfigPolicy, quotas: QuotaLimits,
                 audit: AuditLog | None = None) -> None:
        self.audit = audit
        self.command = command
        self.store = store
        self.policy = policy
        self.quotas = quotas

    def usage(self) -> str:
        c = self.command
        keys = "\n".join(f"• `{key}`: {HINTS[key]}" for key in KEYS)
        return (f"Usage: `{c} config show`, `{c} config set <setting> <value>` or `{c} config unset <setting>`. "
                f"Settings:\n{keys}")

    async def handle(self, team: str, channel: str, user: str, text: str, may_change: Callable[[], Awaitable[bool]],
                     where: str = "this channel") -> str:
        action, _, rest = text.strip().partition(" ")
        action = action.lower() or "show"
        key, _, value = rest.strip().partition(" ")
        key = key.lower()
        if action == "show":
            config = await self.store.channel_config(team, channel)
            return f"*Settings of {where}*\n" + "\n".join(describe(config, self.policy, self.quotas))
        if action not in ("set", "unset") or not key:
            return self.usage()
        if key not in KEYS:
            return f"I don't have a setting `{key}`. " + self.usage()
        if not await may_change():
            return NOT_ALLOWED_TO_CONFIGURE
        if action == "unset":
            await self.store.set_channel_setting(team, channel, key, None)
            log.info("%s unset %s of %s", user, key, channel)
            if self.audit is not None:
                await self.audit.record("config.unset", team=team, user=user, channel=channel, key=key)
            return f"`{key}` unset: the default applies in {where} again."
        try:
            stored = stored_value(key, value, self.policy, team)
        except ConfigError as exc:
            return str(exc)
        await self.store.set_channel_setting(team, channel, key, stored)
        log.info("%s set %s of %s", user, key, channel)
        if self.audit is not None:  # a persona is text people wrote: its length, not its words
            shown = {"characters": len(stored)} if key == "persona" else {"value": stored}
            await self.audit.record("config.set", team=team, user=user, channel=channel, key=key, **shown)
        return f"`{key}` set for {where}." + (" It applies from the next message." if key != "persona" else "")
