"""Wiring of the Slack side: the HTTP session and clients, the bot's identity, the rate
limits per method, and the reply writers answers use."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Awaitable, Callable, Sequence

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import StartupError
from bot.schedules.runner import Occurrences, Scheduler
from bot.slack.directory import NameDirectory
from bot.slack.rate_budget import RateBudget
from bot.slack.events import IncomingMessage
from bot.slack.native_stream import NativeStreamReply
from bot.llm.writer import ReplyWriter
from bot.slack.reply import SlackReply
from bot.responder import BotIdentity, ReplyFactory
from bot.settings import Settings
from bot.slack.history import LIMITED_CALLS_PER_MINUTE, LIMITED_METHODS
from bot.slack.retries import fault_retry_handlers
from bot.tasks import BackgroundTasks
from bot.observability.metrics import MeteredWebClient, Metrics
from bot.slack.agent_sessions import AgentSessions
from bot.workspaces.context import WorkspaceTokenMixin, WorkspaceWebClient

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

SLACK_CONNECTIONS = 100  # open connections to Slack per process (kept alive and reused)


def slack_http_session(timeout_seconds: float) -> aiohttp.ClientSession:
    """One HTTP session for every Slack call of the process: connections are kept alive and
    reused instead of one new connection (and TLS handshake) per call.  The session's
    timeout is every call's (the SDK applies its own only to sessions it makes)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=SLACK_CONNECTIONS, keepalive_timeout=60),
        timeout=aiohttp.ClientTimeout(total=timeout_seconds),
    )


def build_slack_client(
    settings: Settings, rate_limited: AsyncRetryHandler | None = None, *, wait_on_429: bool = True,
    session: aiohttp.ClientSession | None = None, metrics: Metrics | None = None,
) -> AsyncWebClient:
    """The Web API client; ``wait_on_429=False`` for calls that must never delay an answer
    (those are not retried on faults either)."""
    handlers: list[AsyncRetryHandler] = fault_retry_handlers() if wait_on_429 else []
    if wait_on_429:
        handlers.append(rate_limited or AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    options = dict(token=settings.bot_token() or None, base_url=settings.slack_api_url,
                   timeout=int(max(1, settings.slack_timeout_seconds)), retry_handlers=handlers, session=session)
    if metrics is not None:
        return MeteredWorkspaceClient(metrics=metrics, **options)
    return WorkspaceWebClient(**options)


class MeteredWorkspaceClient(WorkspaceTokenMixin, MeteredWebClient):
    """The bot's Slack client: counted in the metrics, with the token of the workspace worked for."""


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


def slack_rate_limits(settings: Settings) -> dict[str, int]:
    """Calls per minute per workspace that the shared budget keeps to (Slack's tiers; in
    distributed mode outside the Marketplace, Slack's 2025 limit on reading history)."""
    history = ({method: LIMITED_CALLS_PER_MINUTE for method in LIMITED_METHODS}
               if settings.distributed and not settings.slack_marketplace_app else {})
    return {
        **history,
        "chat.update": settings.slack_updates_per_minute,  # Tier 3
        "chat.delete": 50,  # Tier 3
        "chat.startStream": 20,  # Tier 2
        "chat.appendStream": 100,  # Tier 4
        "assistant.threads.setStatus": 100,  # not published; a 429 beyond it only means a placeholder instead
    }


def reply_factory(
    slack: AsyncWebClient, budget: RateBudget, *, interval: float, streaming: str, status_client: AsyncWebClient | None = None,
    tasks: BackgroundTasks | None = None, sessions: AgentSessions | None = None,
) -> ReplyFactory:
    """How answers are written: Slack's streaming methods for thread replies (in
    DM threads, the assistant surface, when ``streaming`` is auto; in every thread
    when native), otherwise a message updated as the text arrives."""

    def replies(
        message: IncomingMessage, *, replace: Sequence[str] = (),
        on_shown: Callable[[Sequence[str]], Awaitable[None]] | None = None,
        may_write: Callable[[], bool] | None = None,
    ) -> ReplyWriter:
        reply = SlackReply(
            slack, message.channel, message.reply_thread_ts, interval=interval, budget=budget, team=message.team,
            controls=True, replace=replace, status_client=status_client, on_shown=on_shown,
            background=tasks.spawn if tasks is not None else None, asker=message.user,
            may_write=may_write, sessions=sessions,
        )
        native = streaming == "native" or (streaming == "auto" and message.is_direct)
        if not native or replace or not message.reply_thread_ts:
            return reply
        return NativeStreamReply(slack, reply, recipient_team=message.team, recipient_user=message.user, budget=budget)

    return replies


def start_schedules(settings: Settings, services: "Services", tasks: BackgroundTasks, metrics: Metrics, *,
                    slack: AsyncWebClient, directory: NameDirectory, budget: RateBudget | None) -> Scheduler | None:
    """The loop that runs scheduled prompts, started (None without a store for them, as in the console)."""
    if services.schedules is None:
        return None
    occurrences = Occurrences(client=slack, store=services.schedules, directory=directory, dispatcher=services.dispatcher,
                              commands=services.commands, interval=settings.stream_update_interval_seconds, budget=budget,
                              workspace_for=services.dispatcher.workspace_for)
    scheduler = Scheduler(services.schedules, occurrences, tasks, grace=timedelta(minutes=settings.schedule_grace_minutes),
                          metrics=metrics)
    scheduler.start()
    return scheduler
