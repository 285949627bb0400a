"""A workspace removing the app (distributed mode): forget it and everything kept for it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp

from bot.workspaces.forget import forget_workspace

if TYPE_CHECKING:
    from bot.workspaces.tokens import Workspaces

log = logging.getLogger(__name__)

SUBSCRIBED_EVENTS = ("app_uninstalled", "tokens_revoked")


def register(app: AsyncApp, *, workspaces: "Workspaces") -> None:
    async def forget(body: dict[str, Any]) -> None:
        org_wide = bool(body.get("is_enterprise_install") or any(
            a.get("is_enterprise_install") for a in body.get("authorizations") or [] if isinstance(a, dict)))
        team, enterprise = str(body.get("team_id") or ""), str(body.get("enterprise_id") or "")
        deleted = await forget_workspace(workspaces.redis, workspaces.keys, workspaces.installations,
                                         team_id=team, enterprise_id=enterprise, org_wide=org_wide)
        if workspaces.audit is not None:
            await workspaces.audit.record("workspace.uninstall", team=team, enterprise=enterprise, org_wide=org_wide,
                                          keys_deleted=deleted, event=str((body.get("event") or {}).get("type") or ""))

    @app.event("app_uninstalled")
    async def uninstalled(body: dict[str, Any]) -> None:
        await forget(body)

    @app.event("tokens_revoked")
    async def revoked(body: dict[str, Any], event: dict[str, Any]) -> None:
        if (event.get("tokens") or {}).get("bot"):  # the bot's token is gone: as good as uninstalled
            await forget(body)
        else:
            log.info("user tokens revoked in %s: the bot keeps none", body.get("team_id"))
