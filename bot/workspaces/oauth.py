"""Installing the app in a workspace: Bolt's OAuth v2 flow (``/slack/install`` →
Slack → ``/slack/oauth_redirect``), state checked against its cookie and spent
once, installations kept in Redis, plain pages for the person installing."""

from __future__ import annotations

import html
import logging
from typing import Any

from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.manifest import INSTALL_PATH, REDIRECT_PATH
from bot.workspaces.installations import RedisInstallationStore, RedisOAuthStateStore
from bot.workspaces.tokens import BOT_NAME_FIELD, bot_name

log = logging.getLogger(__name__)

STATE_SECONDS = 600  # an install started must finish within ten minutes

# What the person installing reads when it did not work, by Bolt's reason.
FAILURES = {
    "access_denied": "The app was not installed: the installation was cancelled in Slack.",
    "invalid_browser": "This installation link was opened in a different browser from the one that started it. "
                       "Start again from the install link.",
    "invalid_state": "This installation link has expired or was already used. Start again from the install link.",
    "missing_code": "Slack did not send an authorisation code. Start again from the install link.",
    "invalid_code": "Slack did not accept the authorisation code. Start again from the install link.",
    "storage_error": "The installation could not be saved. Try again in a few minutes.",
}


def page(title: str, text: str, status: int) -> BoltResponse:
    body = (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>"
        "<style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;line-height:1.5}}</style>"
        "</head><body><h1>{t}</h1><p>{x}</p></body></html>"
    ).format(t=html.escape(title), x=html.escape(text))
    return BoltResponse(status=status, body=body, headers={"Content-Type": "text/html; charset=utf-8"})


async def _success(args: AsyncSuccessArgs) -> BoltResponse:
    installation = args.installation
    where = installation.team_name or installation.enterprise_name or "your workspace"
    log.info("installed in workspace %s", installation.team_id or installation.enterprise_id)
    return page("Installed", f"The assistant is installed in {where}. Mention it in a channel, or open it from the "
                             "Apps section to talk to it directly. You can close this page.", 200)


async def _failure(args: AsyncFailureArgs) -> BoltResponse:
    log.warning("installation failed: %s", args.reason)
    text = FAILURES.get(args.reason, "The app could not be installed. Start again from the install link.")
    return page("Not installed", text, args.suggested_status_code)


class InstallFlow(AsyncOAuthFlow):
    """Bolt's flow; the bot's name in the new workspace is read once and kept with the installation."""

    audit: Any = None  # bot.operations.audit.AuditLog

    async def store_installation(self, request: AsyncBoltRequest, installation: Installation) -> None:
        if installation.bot_token and installation.bot_user_id:
            installation.set_custom_value(BOT_NAME_FIELD, await bot_name(self.client, installation.bot_token,
                                                                         installation.bot_user_id))
        await super().store_installation(request, installation)
        if self.audit is not None:
            await self.audit.record("workspace.install", team=installation.team_id or "", user=installation.user_id or "",
                                    enterprise=installation.enterprise_id or "",
                                    org_wide=bool(installation.is_enterprise_install))


def build_install_flow(
    *, client_id: str, client_secret: str, scopes: list[str], redirect_uri: str | None,
    installations: RedisInstallationStore, states: RedisOAuthStateStore, client: AsyncWebClient, audit: Any = None,
) -> InstallFlow:
    """``client`` reaches SLACK_API_URL (oauth.v2.access and auth.test go through it)."""
    flow = InstallFlow(
        client=client,
        settings=AsyncOAuthSettings(
            client_id=client_id,
            client_secret=client_secret,
            scopes=scopes,
            user_scopes=[],
            redirect_uri=redirect_uri,
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
            install_page_rendering_enabled=False,  # straight to Slack's consent page
            installation_store=installations,
            installation_store_bot_only=True,
            state_store=states,
            state_expiration_seconds=STATE_SECONDS,
            callback_options=AsyncCallbackOptions(success=_success, failure=_failure),
        ),
    )
    flow.audit = audit
    return flow
