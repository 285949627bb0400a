"""MCP servers as tool providers, through the official ``mcp`` SDK's client.

Each server has one connection, kept by a background task: it connects, lists the
tools (at start-up, then again when the server says its list changed or after a
TTL: never per answer), pings it every few seconds, and reconnects with backoff when
the server goes away.  A transport failure (the SDK's "connection closed", a broken
stream, a ping unanswered) marks the server down at once: the call in flight gets one
error result and its tools are left out until it is back.  A server that is down
offers no tools (one log line) and the bot answers anyway.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
import warnings
from contextlib import AsyncExitStack
from typing import Any, Sequence

import mcp_types as types
from mcp_types import CONNECTION_CLOSED
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from bot.tools.base import Source, ToolContext, ToolOutcome, ToolSpec, model_name
from bot.tools.mcp_config import ServerConfig

log = logging.getLogger(__name__)

RETRY_SECONDS = (1.0, 2.0, 5.0, 15.0, 30.0, 60.0)
CONNECT_TIMEOUT_SECONDS = 15.0
STDERR_TAIL_LINES, STDERR_TAIL_BYTES = 5, 2000
HEALTH_SECONDS = 10.0  # a ping this often between listings: a server that died is noticed without a call
STARTING, UP, DOWN = "starting", "up", "down"


class ToolUnavailable(Exception):
    """The server is not connected."""


class McpServer:
    """One configured MCP server: its connection, its cached tool list, its calls."""

    def __init__(self, config: ServerConfig, *, ttl_seconds: float = 300.0, call_timeout: float = 30.0,
                 retry_seconds: Sequence[float] = RETRY_SECONDS, health_seconds: float = HEALTH_SECONDS) -> None:
        self.config = config
        self.name = config.name
        self.ttl_seconds = ttl_seconds
        self.call_timeout = call_timeout
        self.retry_seconds = tuple(retry_seconds)
        self.health_seconds = health_seconds
        self.state = STARTING
        self.problem = ""  # why it is down, for /assistant tools (an error class, never a message)
        self.listed_at = 0.0
        self.list_calls = 0  # tools/list requests made (the benchmark checks none happen per answer)
        self._tools: list[ToolSpec] = []
        self._client: Client | None = None
        self._stale = asyncio.Event()
        self._broken = asyncio.Event()
        self._attempted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._errors: Any = None  # a stdio server's error output (a temporary file)
        self._said = ""  # its last lines when it went down

    # -- the provider interface ----------------------------------------
    def tools(self) -> list[ToolSpec]:
        return list(self._tools) if self.state == UP else []

    async def call(self, spec: ToolSpec, arguments: dict[str, Any], context: ToolContext) -> ToolOutcome:
        client = self._client
        if client is None or self.state != UP:
            raise ToolUnavailable(self.name)
        try:
            result = await client.call_tool(spec.original, arguments, read_timeout_seconds=self.call_timeout)
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:  # the SDK's word for a transport that went away, not the server's
                self._lost("connection closed")
            raise  # otherwise the server answered, with an error about this call: the connection is fine
        except Exception as exc:
            self._lost(_kind(exc))  # the connection failed under the call: connect again
            raise
        return outcome_of(result)

    def _lost(self, problem: str) -> None:
        """The transport failed: down at once (its tools are left out), reconnected with backoff."""
        if self.state == UP:
            log.warning("MCP server %s went away (%s): its tools are left out until it is back", self.name, problem)
        self.state, self.problem, self._client = DOWN, problem, None
        self._broken.set()

    # -- lifecycle ------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._keep_connected(), name=f"mcp:{self.name}")

    async def first_attempt(self, timeout: float) -> None:
        """Wait until the first connection attempt has ended (up or down), at most ``timeout``."""
        try:
            await asyncio.wait_for(self._attempted.wait(), timeout)
        except TimeoutError:
            pass

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.state, self._client = DOWN, None

    async def _keep_connected(self) -> None:
        failures = 0
        while True:
            try:
                await self._session()
                failures = 0  # the connection ended after working: reconnect at once
            except Exception as exc:  # any transport failure (or a group of them): the server is down for now
                delay = self.retry_seconds[min(failures, len(self.retry_seconds) - 1)]
                failures += 1
                self.problem = _reason(exc, self.problem if self.state == DOWN else "")
                if self.state != DOWN or failures == 1:
                    said = self._said
                    log.warning("MCP server %s is unavailable (%s); its tools are left out; retrying in %.0fs%s",
                                self.name, self.problem, delay, f"; its last error output: {said}" if said else "")
                else:
                    log.debug("MCP server %s still unavailable (%s); retrying in %.0fs", self.name, self.problem, delay)
                self.state, self._client = DOWN, None
                self._attempted.set()
                await asyncio.sleep(delay)

    async def _session(self) -> None:
        self._errors = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") if not self.config.url else None
        try:
            await self._connected_session()
        finally:
            self._said = self._last_error_lines()

    async def _connected_session(self) -> None:
        async with AsyncExitStack() as stack:
            client = Client(await self._transport(stack), message_handler=self._on_message,
                            read_timeout_seconds=CONNECT_TIMEOUT_SECONDS)
            async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                await stack.enter_async_context(client)
                await self._list(client)
            self._client, self.state, self.problem = client, UP, ""
            self._attempted.set()
            log.info("MCP server %s: %d tools (%s)", self.name, len(self._tools), self.config.transport)
            if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
                listener = asyncio.get_running_loop().create_task(self._listen(client))
                stack.push_async_callback(_cancel, listener)
            self._broken.clear()
            while True:
                self._stale.clear()
                woken = [asyncio.ensure_future(self._stale.wait()), asyncio.ensure_future(self._broken.wait())]
                due = max(0.0, self.listed_at + self.ttl_seconds - time.time())
                try:
                    await asyncio.wait(woken, timeout=min(due, self.health_seconds), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in woken:
                        waiter.cancel()
                if self._broken.is_set():
                    raise ConnectionError(self.problem or "a call failed on the connection")
                async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                    if self._stale.is_set() or time.time() >= self.listed_at + self.ttl_seconds:
                        await self._list(client)
                    else:
                        await _alive(client)

    async def _transport(self, stack: AsyncExitStack) -> Any:
        config = self.config
        if config.url:
            http = await stack.enter_async_context(create_mcp_http_client(headers=dict(config.headers)))
            return streamable_http_client(config.url, http_client=http)
        # The server's error output goes to a file of our own, not ours: its last lines are
        # logged once when it goes down, instead of flooding the log on every retry.
        parameters = StdioServerParameters(command=config.command or "", args=list(config.args),
                                           env=dict(config.env) or None)
        return stdio_client(parameters, errlog=self._errors)

    def _last_error_lines(self) -> str:
        """The end of a stdio server's error output (a few lines), for the log."""
        errors, self._errors = self._errors, None
        if errors is None:
            return ""
        try:
            errors.flush()
            size = errors.seek(0, 2)
            errors.seek(max(0, size - STDERR_TAIL_BYTES))
            lines = [line.strip() for line in errors.read().splitlines() if line.strip()]
        except (OSError, ValueError):
            return ""
        finally:
            errors.close()
        return " | ".join(lines[-STDERR_TAIL_LINES:])[-STDERR_TAIL_BYTES:]

    async def _list(self, client: Client) -> None:
        listed: list[types.Tool] = []
        cursor: str | None = None
        while True:
            self.list_calls += 1
            page = await client.list_tools(cursor=cursor, cache_mode="refresh")
            listed += page.tools
            cursor = page.next_cursor
            if not cursor:
                break
        self._tools = [self._spec(tool) for tool in listed if self.config.offers(tool.name)]
        self.listed_at = time.time()

    def _spec(self, tool: types.Tool) -> ToolSpec:
        hints = tool.annotations
        destructive = bool(hints is not None and hints.destructive_hint)
        title = tool.title or (hints.title if hints is not None else None) or ""
        return ToolSpec(
            name=model_name(self.name, tool.name),
            description=tool.description or tool.name,
            parameters=tool.input_schema or {"type": "object", "properties": {}},
            source=self.name,
            original=tool.name,
            title=title,
            confirm=destructive or tool.name in self.config.confirm,
        )

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._stale.set()

    async def _listen(self, client: Client) -> None:
        try:
            async with client.listen(tools_list_changed=True) as events:
                async for _ in events:
                    self._stale.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the TTL still refreshes the list
            log.info("MCP server %s: not listening for tool list changes (%s)", self.name, _kind(exc))


def outcome_of(result: types.CallToolResult) -> ToolOutcome:
    """A tool result as text for the model, with the links it returned."""
    parts: list[str] = []
    sources: list[Source] = []
    for block in result.content:
        if isinstance(block, types.TextContent):
            parts.append(block.text)
        elif isinstance(block, types.ResourceLink):
            sources.append(Source(str(block.uri), block.title or block.name))
            parts.append(f"[{block.title or block.name}]({block.uri})")
        elif isinstance(block, types.EmbeddedResource):
            resource = block.resource
            text = getattr(resource, "text", None)
            parts.append(text if isinstance(text, str) else f"[resource {resource.uri}]")
        elif isinstance(block, types.ImageContent):
            parts.append("[image]")
        else:
            parts.append(f"[{getattr(block, 'type', 'content')}]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    text = "\n".join(parts) or "(no output)"
    if result.is_error:
        return ToolOutcome("Error: " + text, ok=False, sources=sources)
    return ToolOutcome(text, sources=sources)


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _alive(client: Client) -> None:
    """Raises when the transport is gone.  A ping is the cheapest request; any answer, even
    "method not found" (the 2026-07-28 protocol dropped ping), proves the server is there."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await client.send_ping()
    except MCPError as exc:
        if exc.code == CONNECTION_CLOSED:
            raise


def _reason(exc: BaseException, known: str) -> str:
    """Why the server is down, in words an operator can act on (never its error text)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, MCPError):
        return "connection closed" if exc.code == CONNECTION_CLOSED else f"MCP error {exc.code}"
    if isinstance(exc, FileNotFoundError):
        return "its command was not found"
    if isinstance(exc, PermissionError):
        return "its command may not be run"
    if isinstance(exc, TimeoutError):
        return "no answer within 15 s"
    if isinstance(exc, ConnectionError) and known:
        return known
    return _kind(exc)


def _kind(exc: BaseException) -> str:
    """What went wrong, safe to log: the error's kind (a group's first), never its message."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return type(exc).__name__
