"""The Bolt app factory: it receives every dependency and builds nothing global."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from handlers import register_all

from .dispatcher import Dispatcher
from .responder import BotIdentity


def build_bolt_app(
    *, client: AsyncWebClient, signing_secret: str, identity: BotIdentity, dispatcher: Dispatcher
) -> AsyncApp:
    async def authorize(**_: object) -> AuthorizeResult:
        # The identity was read once at start-up (auth.test): no Slack call per request.
        return AuthorizeResult(
            enterprise_id=None,
            team_id=identity.team_id,
            bot_token=client.token,
            bot_id=identity.bot_id,
            bot_user_id=identity.user_id,
        )

    # Bolt takes the token from ``authorize``; a client without one avoids its
    # "token will be ignored" warning at every start.
    bolt_client = AsyncWebClient(
        base_url=client.base_url, timeout=client.timeout, retry_handlers=client.retry_handlers, logger=client.logger
    )
    app = AsyncApp(
        client=bolt_client,
        signing_secret=signing_secret,
        authorize=authorize,
        process_before_response=False,  # ack first, answer afterwards
        logger=logging.getLogger("slack_bolt"),
    )
    register_all(app, dispatcher=dispatcher, identity=identity)
    return app
