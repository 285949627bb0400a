"""MCP servers as tool providers, through the official ``mcp`` SDK's client.

Each server has one connection, kept by a background task: it connects, lists the
tools (at start-up, then again when the server says its list changed or after a
TTL: never per answer), and reconnects with backoff when the server goes away.
A server that is down offers no tools (one log line) and the bot answers anyway.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import AsyncExitStack
from typing import Any, Sequence

import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from bot.tools.base import Source, ToolContext, ToolOutcome, ToolSpec, model_name
from bot.tools.mcp_config import ServerConfig

log = logging.getLogger(__name__)

RETRY_SECONDS = (1.0, 2.0, 5.0, 15.0, 30.0, 60.0)
CONNECT_TIMEOUT_SECONDS = 15.0
STARTING, UP, DOWN = "starting", "up", "down"


class ToolUnavailable(Exception):
    """The server is not connected."""


class McpServer:
    """One configured MCP server: its connection, its cached tool list, its calls."""

    def __init__(self, config: ServerConfig, *, ttl_seconds: float = 300.0, call_timeout: float = 30.0,
                 retry_seconds: Sequence[float] = RETRY_SECONDS) -> None:
        self.config = config
        self.name = config.name
        self.ttl_seconds = ttl_seconds
        self.call_timeout = call_timeout
        self.retry_seconds = tuple(retry_seconds)
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

    # -- the provider interface ----------------------------------------
    def tools(self) -> list[ToolSpec]:
        return list(self._tools) if self.state == UP else []

    async def call(self, spec: ToolSpec, arguments: dict[str, Any], context: ToolContext) -> ToolOutcome:
        client = self._client
        if client is None or self.state != UP:
            raise ToolUnavailable(self.name)
        try:
            result = await client.call_tool(spec.original, arguments, read_timeout_seconds=self.call_timeout)
        except MCPError:
            raise  # the server answered, with an error about this call: the connection is fine
        except Exception:
            self._broken.set()  # the connection failed under the call: connect again
            raise
        return outcome_of(result)

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
                self.problem = _kind(exc)
                if self.state != DOWN or failures == 1:
                    log.warning("MCP server %s is unavailable (%s); its tools are left out; retrying in %.0fs",
                                self.name, self.problem, delay)
                self.state, self._client = DOWN, None
                self._attempted.set()
                await asyncio.sleep(delay)

    async def _session(self) -> None:
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
                try:
                    await asyncio.wait(woken, timeout=self.ttl_seconds, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in woken:
                        waiter.cancel()
                if self._broken.is_set():
                    raise ConnectionError("a call failed on the connection")
                async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                    await self._list(client)

    async def _transport(self, stack: AsyncExitStack) -> Any:
        config = self.config
        if config.url:
            http = await stack.enter_async_context(create_mcp_http_client(headers=dict(config.headers)))
            return streamable_http_client(config.url, http_client=http)
        return StdioServerParameters(command=config.command or "", args=list(config.args), env=dict(config.env) or None)

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


def _kind(exc: BaseException) -> str:
    """What went wrong, safe to log: the error's kind (a group's first), never its message."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return type(exc).__name__
