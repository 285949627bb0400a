"""Building the bot's parts from the settings, once, inside the running event loop."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis.asyncio as aioredis
from openai import AsyncOpenAI
from redis.exceptions import RedisError
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from .app import build_bolt_app
from .directory import Directory
from .dispatcher import Dispatcher
from .model import ModelClient, build_openai_client
from .prompts import PromptError, load_system_prompt
from .responder import Budget, BotIdentity, Responder
from .settings import ConfigError, Settings
from .store import ConversationStore, connect
from .tokens import TokenCounter, TokenizerUnavailable
from .trimming import fixed_tokens

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 25.0


class StartupError(Exception):
    """The bot cannot start; the message is one human line."""


@dataclass
class Runtime:
    settings: Settings
    store: ConversationStore
    slack: AsyncWebClient
    model: ModelClient
    dispatcher: Dispatcher
    bolt_app: AsyncApp
    identity: BotIdentity

    async def aclose(self) -> None:
        await self.dispatcher.aclose(SHUTDOWN_GRACE_SECONDS)
        await self.model.close()
        await self.store.close()


def build_slack_client(settings: Settings) -> AsyncWebClient:
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=15,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        ],
    )


async def fetch_identity(slack: AsyncWebClient) -> BotIdentity:
    try:
        response = await slack.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error")
        raise StartupError(
            f"Slack rejected SLACK_BOT_TOKEN ({error}): copy the Bot User OAuth Token again from your app's 'OAuth & Permissions' page."
        ) from None
    except Exception as exc:
        raise StartupError(
            f"Cannot reach the Slack Web API at SLACK_API_URL ({type(exc).__name__}): check the network or the setting."
        ) from None
    return BotIdentity(
        user_id=str(response.get("user_id") or ""),
        bot_id=str(response.get("bot_id") or ""),
        team_id=str(response.get("team_id") or ""),
    )


async def build_runtime(
    settings: Settings, *, redis: aioredis.Redis | None = None, openai_client: AsyncOpenAI | None = None
) -> Runtime:
    """Every part of the running bot.  Raises StartupError with one human line."""
    try:
        counter = TokenCounter.for_model(settings.openai_model, settings.tiktoken_cache_dir)
    except (TokenizerUnavailable, OSError) as exc:
        raise StartupError(f"Cannot load the tokenizer: {exc} (check TIKTOKEN_CACHE_DIR).") from None
    try:
        prompt = load_system_prompt(settings.prompts_dir)
    except PromptError as exc:
        raise StartupError(f"Invalid prompt file {exc}") from None
    sample = prompt.render({"bot_name": settings.bot_name, "date": "Wednesday, 30 September 2026", "user_name": "x" * 40, "channel": "#" + "x" * 40})
    if fixed_tokens(counter.count_message(sample)) * 2 > settings.max_context_tokens:
        raise StartupError("MAX_CONTEXT_TOKENS is too small: the system prompt alone takes half of it; raise it.")

    if settings.embedded_store:
        log.warning(
            "REDIS_URL is not set: using the embedded in-process store. Conversation history is per-process "
            "and lost on restart; set REDIS_URL for production."
        )
    store = ConversationStore(
        redis if redis is not None else connect(settings.redis_url),
        key_prefix=settings.redis_key_prefix,
        ttl_seconds=settings.conversation_ttl_seconds,
    )
    try:
        await store.ping()
    except (RedisError, OSError) as exc:
        await store.close()
        raise StartupError(f"Cannot reach Redis at REDIS_URL ({type(exc).__name__}): start Redis or fix the URL.") from None

    slack = build_slack_client(settings)
    try:
        identity = await fetch_identity(slack)
    except StartupError:
        await store.close()
        raise

    model = ModelClient(
        openai_client
        or build_openai_client(
            api_key=settings.model_api_key(),
            base_url=settings.openai_base_url,
            max_retries=settings.model_max_retries,
            timeout=settings.model_timeout_seconds,
        ),
        model=settings.openai_model,
        max_output_tokens=settings.max_output_tokens,
        temperature=settings.model_temperature,
        total_timeout=settings.model_timeout_seconds,
        idle_timeout=settings.model_idle_timeout_seconds,
    )
    responder = Responder(
        slack=slack,
        store=store,
        model=model,
        counter=counter,
        prompt=prompt,
        directory=Directory(slack, store),
        identity=identity,
        budget=Budget(settings.max_context_tokens, settings.trim_target_ratio),
        bot_name=settings.bot_name,
        update_interval=settings.stream_update_interval_seconds,
        dm_idle_reset_seconds=settings.dm_idle_reset_minutes * 60,
        thread_import_limit=settings.thread_import_limit,
    )
    dispatcher = Dispatcher(store, responder)
    bolt_app = build_bolt_app(
        client=slack,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        identity=identity,
        dispatcher=dispatcher,
    )
    log.info(
        "ready as %s (bot %s) in team %s; model %s; context budget %d tokens",
        identity.user_id, identity.bot_id, identity.team_id, settings.openai_model, settings.max_context_tokens,
    )
    return Runtime(settings, store, slack, model, dispatcher, bolt_app, identity)


__all__ = ["Runtime", "StartupError", "build_runtime", "ConfigError"]
