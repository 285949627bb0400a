"""Building the bot's parts from the settings, once, inside the running event loop.

``build_core`` makes what every surface shares (store, model, tokenizer,
prompts); ``build_services`` wires the answering logic to a surface's reply
writers and name directory; ``build_runtime`` does both for Slack.  The local
console (``bot.console``) uses the same core and services without Slack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Any, Mapping

import aiohttp
import redis.asyncio as aioredis
from openai import AsyncOpenAI
from redis.exceptions import RedisError
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import build_bolt_app
from bot.slack.directory import Directory
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.stops import StopSignals
from bot.llm.wiring import build_model_client
from bot.prompts import PromptCatalog, PromptError, load_catalog
from bot.slack.rate_budget import RateBudget, SharedRateLimitRetryHandler
from bot.responder import BotIdentity
from bot.settings import Settings
from bot.slack.history import SlackHistory
from bot.slack.notes import SlackNotes
from bot.memory.store import ConversationStore
from bot.memory.connection import is_cluster, open_redis
from bot.tasks import BackgroundTasks
from bot.services import Core, Services
from bot.service_wiring import build_services
from bot.tokens import TokenCounter, TokenizerUnavailable
from bot.memory.trimming import fixed_tokens
from bot.delivery.inbox import INBOX_TTL_SECONDS
from bot.delivery.inbox_writer import BlockingWriter, blocking_client
from bot.errors import StartupError
from bot.files.extract import Limits
from bot.slack_wiring import (build_slack_client, fetch_identity, reply_factory, slack_http_session, start_schedules,
                              slack_rate_limits)
from bot.schedules.runner import Scheduler
from bot.guardrails.parts import build_guardrails
from bot.knowledge.wiring import NoQueryEngine, open_knowledge
from bot.operations.audit import AuditLog
from bot.slack.canvases import CanvasWriter
from bot.files.reader import FileReader
from bot.files.sandbox import ExtractionPool, SandboxLimits
from bot.pricing import PricesError, load_prices
from bot.usage.ledger import Ledger
from bot.slack.agent_sessions import AgentSessions
from bot.slack.transcripts import SlackReaders
from bot.tools.approval import SlackApprovals
from bot.tools.builtin import CURRENT_TIME, READ_SLACK_LINK, SEARCH_WORKSPACE, WRITE_CANVAS, BuiltinTools
from bot.tools.mcp_config import McpConfigError, load_mcp_config
from bot.tools.mcp_servers import McpServer
from bot.tools.toolbox import Toolbox
from bot.workspaces.context import WorkspaceIdentity, WorkspaceWebClient
from bot.workspaces.sealing import Sealer
from bot.workspaces.installations import RedisInstallationStore, RedisOAuthStateStore
from bot.workspaces.oauth import InstallFlow, build_install_flow
from bot.workspaces.tokens import Workspaces
from bot.slack.manifest import bot_scopes
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator

log = logging.getLogger(__name__)


MCP_STARTUP_WAIT_SECONDS = 10.0  # start-up waits this long for MCP servers to list their tools


@dataclass
class Runtime:
    core: Core
    services: Services
    slack: AsyncWebClient
    bolt_app: AsyncApp
    identity: BotIdentity
    http: aiohttp.ClientSession | None = None  # shared by every Slack client
    workspaces: Workspaces | None = None  # distributed mode: each workspace's installation
    install_flow: InstallFlow | None = None  # distributed mode: /slack/install and /slack/oauth_redirect
    scheduler: Scheduler | None = None  # runs scheduled prompts

    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def store(self) -> ConversationStore:
        return self.core.store

    @property
    def dispatcher(self) -> Dispatcher:
        return self.services.dispatcher

    async def stop(self, deadline: float) -> None:
        """Stop as SIGTERM asks: take no new work, let answers in progress finish until
        ``deadline`` (event-loop time), hand back what is left, then close."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        if self.scheduler is not None:
            await self.scheduler.stop()
        await self.dispatcher.shutdown(deadline, clock=loop.time)
        unfinished = len(self.core.tasks)
        await self.core.tasks.aclose(max(0.0, deadline - loop.time()))  # cancels what is left: it is handed back
        await self.dispatcher.leave()
        await self.core.aclose(grace_seconds=0)
        self.dispatcher.inbox.close()
        if self.http is not None:
            await self.http.close()
        log.info("stopped in %.1fs (%d unfinished at the deadline were handed back)", loop.time() - started, unfinished)

    async def aclose(self) -> None:
        await self.stop(asyncio.get_running_loop().time() + self.settings.shutdown_grace_seconds)


def load_prompts(settings: Settings, counter: TokenCounter) -> PromptCatalog:
    try:
        catalog = load_catalog(settings.prompts_dir, reserved_commands=frozenset({settings.management_command}))
    except PromptError as exc:
        raise StartupError(f"Invalid prompt file {exc}") from None
    sample = catalog.system.render(
        {"bot_name": settings.bot_name, "date": "Wednesday, 30 September 2026", "user_name": "x" * 40, "channel": "#" + "x" * 40}
    )
    if fixed_tokens(counter.count_message(sample)) * 2 > settings.max_context_tokens:
        raise StartupError("MAX_CONTEXT_TOKENS is too small: the system prompt alone takes half of it; raise it.")
    return catalog


async def build_core(
    settings: Settings, *, redis: aioredis.Redis | None = None, openai_client: AsyncOpenAI | None = None
) -> Core:
    """What every surface shares.  Raises StartupError with one human line."""
    try:
        counter = TokenCounter.for_model(settings.openai_model, settings.tiktoken_cache_dir)
    except (TokenizerUnavailable, OSError) as exc:
        raise StartupError(f"Cannot load the tokenizer: {exc} (check TIKTOKEN_CACHE_DIR).") from None
    catalog = load_prompts(settings, counter)
    if settings.embedded_store:
        log.warning(
            "REDIS_URL is not set: using the embedded in-process store. Conversation history is per-process "
            "and lost on restart; set REDIS_URL for production."
        )
    try:
        client = redis if redis is not None else await open_redis(
            settings.redis_url, cluster=settings.redis_cluster,
            max_connections=settings.redis_max_connections)
    except (RedisError, OSError) as exc:
        raise StartupError(f"Cannot reach Redis at REDIS_URL ({type(exc).__name__}): start Redis or fix the URL.") from None
    except ValueError as exc:
        raise StartupError(f"Invalid setting REDIS_URL ({exc}).") from None
    store = ConversationStore(client, key_prefix=settings.redis_key_prefix, ttl_seconds=settings.conversation_ttl_seconds)
    try:
        await store.ping()
    except (RedisError, OSError) as exc:
        await store.close()
        raise StartupError(f"Cannot reach Redis at REDIS_URL ({type(exc).__name__}): start Redis or fix the URL.") from None
    if is_cluster(store.redis):
        log.info("REDIS_URL names a Redis Cluster: using the cluster client")
    try:
        prices = load_prices(settings.prices_file)
    except PricesError as exc:
        await store.close()
        raise StartupError(f"Invalid PRICES_FILE: {exc}.") from None
    model = build_model_client(settings, openai_client)
    mcp_servers = await start_mcp_servers(settings)
    ledger = Ledger(store.redis, store.keys, prices)
    if not settings.embedded_store and not is_cluster(store.redis):
        with contextlib.suppress(RedisError, OSError):
            if renamed := await ledger.adopt_old_keys(store.redis):
                log.info("usage kept under the old key names moved to the new ones (%d keys)", renamed)
    core = Core(settings, store, model, counter, catalog, BackgroundTasks(), StopSignals(store.redis, store.keys),
                mcp_servers, ledger, extractor=ExtractionPool(sandbox_limits(settings)),
                audit=AuditLog(store.redis, store.keys, retention_days=settings.audit_retention_days))
    try:
        core.guards = build_guardrails(core)
    except PromptError as exc:
        await store.close()
        raise StartupError(f"Invalid prompt file {exc}") from None
    await open_team_knowledge(core)
    if model.breaker is not None:
        core.metrics.watch_breaker(model.breaker)
    model.on_fallback = core.metrics.fallback
    return core


async def open_team_knowledge(core: Core) -> None:
    """Team knowledge (KNOWLEDGE), its in-process index loading in the background.  Raises StartupError."""
    try:
        core.knowledge = await open_knowledge(core.settings, core.store.redis, core.model.client, core.counter,
                                              core.store.keys.base)
    except NoQueryEngine as exc:
        await core.store.close()
        raise StartupError(str(exc)) from None
    if core.knowledge is not None:
        core.tasks.spawn(core.knowledge.warm())


def sandbox_limits(settings: Settings) -> SandboxLimits:
    """What reading one shared file may take (docs/features.md: Files and images)."""
    return SandboxLimits(
        memory_mb=settings.file_worker_memory_mb, seconds=settings.file_extract_seconds,
        workers=settings.file_workers, max_file_bytes=settings.file_max_bytes,
        file=Limits(max_chars=settings.max_file_tokens * 6, max_pages=settings.file_max_pages,
                    max_expanded_bytes=settings.file_max_expanded_bytes,
                    max_image_pixels=settings.file_max_image_pixels))


async def start_mcp_servers(settings: Settings, environ: Mapping[str, str] | None = None) -> list[McpServer]:
    """Connect to the MCP servers of MCP_CONFIG (or ./mcp.json) and list their tools, waiting
    at most ``MCP_STARTUP_WAIT_SECONDS`` in all; a server not up by then joins when it is."""
    path = settings.mcp_config_path()
    if path is None:
        return []
    try:
        configs = load_mcp_config(path, os.environ if environ is None else environ)
    except McpConfigError as exc:
        raise StartupError(f"Invalid MCP_CONFIG: {exc}.") from None
    servers = [McpServer(config, ttl_seconds=settings.mcp_tools_ttl_seconds, call_timeout=settings.tool_timeout_seconds)
               for config in configs]
    for server in servers:
        server.start()
    await asyncio.gather(*(server.first_attempt(MCP_STARTUP_WAIT_SECONDS) for server in servers))
    log.info("MCP servers: %s", ", ".join(f"{s.name} ({s.state}, {len(s.tools())} tools)" for s in servers) or "none")
    return servers


def file_reader(settings: Settings, session: aiohttp.ClientSession, core: Core,
                slack: AsyncWebClient) -> FileReader:
    """Shared files are downloaded with the bot's token (the workspace's) from Slack's hosts only
    (https, and SLACK_API_URL's origin), and read in the file worker processes."""
    return FileReader(
        session, extractor=core.extractor, token=lambda: slack.token or "",
        allowed_origins=["https://slack.com", settings.slack_api_url],
        counter=core.counter, max_bytes=settings.file_max_bytes, per_message=settings.files_per_message,
        max_tokens=settings.max_file_tokens, vision=settings.sees_images,
    )


def builtin_tool_names(settings: Settings) -> set[str]:
    enabled = {CURRENT_TIME} if settings.tool_current_time else set()
    if settings.tool_read_slack_link:
        enabled.add(READ_SLACK_LINK)
    if settings.tool_search_workspace:
        enabled.add(SEARCH_WORKSPACE)
    if settings.tool_write_canvas:
        enabled.add(WRITE_CANVAS)
    return enabled


def tools_of(settings: Settings, core: Core, slack: Any, directory: Directory,
             identity: Any) -> tuple[Toolbox, CanvasWriter | None]:
    """The toolbox (built-in tools, then the MCP servers'), and the canvas writer when canvases are on."""
    readers = SlackReaders(directory, bot_user_id=identity.user_id, bot_id=identity.bot_id, bot_name=settings.bot_name)
    canvases = CanvasWriter(slack, directory.may_show) if settings.tool_write_canvas else None
    builtin = BuiltinTools(slack, readers, enabled=builtin_tool_names(settings), canvases=canvases)
    return Toolbox([builtin, *core.mcp_servers]), canvases


async def build_runtime(
    settings: Settings, *, redis: aioredis.Redis | None = None, openai_client: AsyncOpenAI | None = None
) -> Runtime:
    """Every part of the Slack bot.  Raises StartupError with one human line."""
    core = await build_core(settings, redis=redis, openai_client=openai_client)
    budget = RateBudget(
        core.store.redis, key_prefix=settings.redis_key_prefix, per_minute=slack_rate_limits(settings)
    )
    rate_limited = SharedRateLimitRetryHandler(
        budget, on_rate_limited=lambda method: core.metrics.slack_rate_limited.labels(method).inc())
    http = slack_http_session(settings.slack_timeout_seconds)
    slack = build_slack_client(settings, rate_limited, session=http, metrics=core.metrics)
    workspaces: Workspaces | None = None
    install_flow: InstallFlow | None = None
    if settings.distributed:
        workspaces, install_flow = distributed_parts(settings, core, http)
    identity = await whose(settings, core, slack, http, rate_limited)
    interval = settings.stream_update_interval_seconds
    history = SlackHistory(slack, budget if settings.distributed and not settings.slack_marketplace_app else None)
    status_client = build_slack_client(settings, wait_on_429=False, session=http, metrics=core.metrics)
    directory = Directory(slack, core.store)
    toolbox, canvases = tools_of(settings, core, slack, directory, identity)
    approvals = SlackApprovals(slack, core.store.redis, core.store.keys, timeout_seconds=settings.tool_approval_seconds)
    services = build_services(
        core,
        directory=directory,
        replies=reply_factory(slack, budget, interval=interval, streaming=settings.slack_streaming,
                              status_client=status_client, tasks=core.tasks,
                              sessions=AgentSessions(status_client) if settings.agent_sessions else None),
        threads=history,
        history=history,
        identity=identity,  # type: ignore[arg-type]
        notes=SlackNotes(slack),
        toolbox=toolbox,
        approvals=approvals,
        files=file_reader(settings, http, core, slack),
        workspaces=workspaces,
        canvases=canvases,
    )
    give_inbox_its_writer(settings, core, services)
    await services.dispatcher.start()
    scheduler = start_schedules(settings, services, core.tasks, core.metrics, slack=slack, directory=directory, budget=budget)
    if not await core.stops.wait_listening():
        log.warning("not listening for Stop presses yet: retrying in the background")
    bolt_app = build_bolt_app(
        client=slack,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        identity=identity,  # type: ignore[arg-type]
        services=services,
        tasks=core.tasks,
        update_interval=interval,
        bot_name=settings.bot_name,
        budget=budget,
        response_hosts=settings.allowed_response_hosts,
        workspaces=workspaces,
        allow_bots=settings.allowed_bots,
    )
    await log_ready(core, identity, workspaces)
    return Runtime(core, services, slack, bolt_app, identity, http, workspaces, install_flow, scheduler)  # type: ignore[arg-type]


async def whose(settings: Settings, core: Core, slack: Any, http: aiohttp.ClientSession,
                rate_limited: SharedRateLimitRetryHandler) -> BotIdentity | WorkspaceIdentity:
    """The bot's identity: its one workspace's (auth.test), or each workspace's in turn (many)."""
    if settings.distributed:
        return WorkspaceIdentity()
    try:
        identity = await fetch_identity(slack)
    except StartupError:
        await http.close()
        await core.store.close()
        raise
    rate_limited.team = identity.team_id
    return identity


def give_inbox_its_writer(settings: Settings, core: Core, services: Services) -> None:
    """The inbox's own blocking client (without it, the pooled client writes the inbox)."""
    if settings.embedded_store or not settings.redis_url:
        return
    try:
        services.dispatcher.inbox.writer = BlockingWriter(
            blocking_client(settings.redis_url, cluster=is_cluster(core.store.redis)), INBOX_TTL_SECONDS)
    except (RedisError, OSError, ValueError) as exc:
        log.warning("the inbox writes through the pooled client (%s)", type(exc).__name__)


async def log_ready(core: Core, identity: BotIdentity | WorkspaceIdentity, workspaces: Workspaces | None) -> None:
    settings = core.settings
    commands = " ".join(sorted([*core.catalog.commands, settings.management_command]))
    if workspaces is not None:
        log.info("ready for many workspaces (%d installed; install at /slack/install); model %s; context budget %d "
                 "tokens; commands %s", await workspaces.installations.count(), settings.openai_model,
                 settings.max_context_tokens, commands)
    else:
        log.info("ready as %s (bot %s) in team %s; model %s; context budget %d tokens; commands %s",
                 identity.user_id, identity.bot_id, identity.team_id, settings.openai_model,
                 settings.max_context_tokens, commands)


def distributed_parts(settings: Settings, core: Core, http: aiohttp.ClientSession) -> tuple[Workspaces, InstallFlow]:
    """Many workspaces: installations in Redis, tokens refreshed before they expire, Bolt's OAuth flow."""
    assert settings.slack_client_id and settings.slack_client_secret is not None
    oauth_client = WorkspaceWebClient(base_url=settings.slack_api_url, session=http,
                                      timeout=int(max(1, settings.slack_timeout_seconds)))
    installations = RedisInstallationStore(core.store.redis, core.store.keys, Sealer(settings.token_keys()))
    secret = settings.slack_client_secret.get_secret_value()
    workspaces = Workspaces(
        installations, core.store.redis, core.store.keys,
        rotator=AsyncTokenRotator(client_id=settings.slack_client_id, client_secret=secret, client=oauth_client),
        refresh_minutes=settings.slack_token_refresh_minutes, audit=core.audit,
    )
    flow = build_install_flow(
        client_id=settings.slack_client_id, client_secret=secret,
        scopes=bot_scopes(search=settings.tool_search_workspace, canvases=settings.tool_write_canvas), redirect_uri=settings.slack_redirect_uri,
        installations=installations, states=RedisOAuthStateStore(core.store.redis, core.store.keys), client=oauth_client,
        audit=core.audit,
    )
    return workspaces, flow
