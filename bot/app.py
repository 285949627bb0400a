"""The Bolt app factory: it receives every dependency and builds nothing global."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from handlers import register_all

from bot.slack.rate_budget import RateBudget
from bot.responder import BotIdentity
from bot.tasks import BackgroundTasks

if TYPE_CHECKING:
    from bot.services import Services
    from bot.workspaces.tokens import Workspaces


def build_bolt_app(
    *,
    client: AsyncWebClient,
    signing_secret: str,
    identity: BotIdentity,
    services: "Services",
    tasks: BackgroundTasks,
    update_interval: float,
    bot_name: str,
    budget: RateBudget | None = None,
    response_hosts: frozenset[str] = frozenset({"hooks.slack.com"}),
    workspaces: "Workspaces | None" = None,
    allow_bots: frozenset[str] = frozenset(),
) -> AsyncApp:
    async def single_workspace(**_: object) -> AuthorizeResult:
        # The identity was read once at start-up (auth.test): no Slack call per request.
        return AuthorizeResult(
            enterprise_id=None,
            team_id=identity.team_id,
            bot_token=client.token,
            bot_id=identity.bot_id,
            bot_user_id=identity.user_id,
        )

    async def installed_workspace(enterprise_id: str | None, team_id: str | None, context: object) -> AuthorizeResult | None:
        # Many workspaces: the request's installation from Redis (its token refreshed when near expiry).
        assert workspaces is not None
        return await workspaces.authorize(enterprise_id, team_id, context)

    bolt_logger = logging.getLogger("slack_bolt")
    bolt_logger.addFilter(_drop_token_notices)
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        authorize=single_workspace if workspaces is None else installed_workspace,
        process_before_response=False,  # ack first, answer afterwards
        logger=bolt_logger,
        # Assistant thread context lives in Redis, not in Slack message metadata.
        assistant_thread_context_store=services.assistant_threads.contexts,
    )
    register_all(
        app,
        services=services,
        identity=identity,
        tasks=tasks,
        client=client,
        update_interval=update_interval,
        bot_name=bot_name,
        budget=budget,
        response_hosts=response_hosts,
        workspaces=workspaces,
        allow_bots=allow_bots,
    )
    return app


def _drop_token_notices(record: logging.LogRecord) -> bool:
    """Bolt warns at start-up that the token (its own read of SLACK_BOT_TOKEN, or
    the client's) is unused when ``authorize`` is given: expected here, so dropped."""
    message = record.getMessage()
    return not ("token" in message and ("will be unused" in message or "will be ignored" in message))
