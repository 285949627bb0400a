"""An MCP server's connection, against the SDK's own server: tools listed once, listed again
when the server says they changed or after the TTL, and a server that is down joins later."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.tools.base import ToolContext
from bot.tools.mcp_config import McpConfigError, ServerConfig, parse_mcp_config
from bot.tools.mcp_servers import DOWN, UP, McpServer

from .fakes.mcp_tools import McpHttpServer

CONTEXT = ToolContext("T1", "C1", "U1")


async def until(condition, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("the condition did not become true")
        await asyncio.sleep(0.02)


@pytest.fixture
def http_server():
    server = McpHttpServer("orders").start()
    yield server
    server.stop()


async def test_a_tool_list_change_is_noticed_without_listing_per_call(http_server):
    server = McpServer(ServerConfig("orders", url=http_server.url), ttl_seconds=300)
    server.start()
    try:
        await server.first_attempt(10)
        assert server.state == UP and server.list_calls == 1
        names = {spec.original: spec for spec in server.tools()}
        for _ in range(3):
            assert (await server.call(names["lookup_order"], {"order_id": "A-1"}, CONTEXT)).ok
        assert server.list_calls == 1  # calls never list
        await server.call(names["grow"], {"name": "fresh"}, CONTEXT)
        await until(lambda: any(spec.original == "fresh" for spec in server.tools()))
        assert server.list_calls == 2
    finally:
        await server.close()


async def test_the_list_is_refreshed_after_its_ttl(http_server):
    server = McpServer(ServerConfig("orders", url=http_server.url), ttl_seconds=0.3)
    server.start()
    try:
        await server.first_attempt(10)
        http_server.server.add_tool(lambda: "quiet", name="quiet", description="Added without a notification.")
        await until(lambda: any(spec.original == "quiet" for spec in server.tools()))
    finally:
        await server.close()


async def test_a_server_that_was_down_joins_when_it_comes_up():
    later = McpHttpServer("later")  # its port is taken but nothing answers yet
    server = McpServer(ServerConfig("later", url=later.url), retry_seconds=(0.1,))
    server.start()
    try:
        await server.first_attempt(10)
        assert server.state == DOWN and server.tools() == []
        await asyncio.to_thread(later.start)
        await until(lambda: server.state == UP, timeout=15)
        assert {spec.name for spec in server.tools()} >= {"later__lookup_order"}
    finally:
        await server.close()
        later.stop()


def test_the_config_reads_variables_from_the_environment_and_names_its_mistakes():
    config = {"mcpServers": {
        "orders": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"},
                   "tools": ["search"], "confirm": ["refund"]},
        "files": {"command": "npx", "args": ["server", "${ROOT}"], "env": {"KEY": "${TOKEN}"}},
    }}
    orders, files = parse_mcp_config(config, {"TOKEN": "t0k", "ROOT": "/srv"})
    assert orders.headers == (("Authorization", "Bearer t0k"),) and orders.allow == ("search",)
    assert orders.confirm == frozenset({"refund"}) and orders.transport == "http"
    assert files.args == ("server", "/srv") and files.env == (("KEY", "t0k"),) and files.transport == "stdio"
    mistakes = {
        "the environment has no TOKEN": config,
        "give either \"url\"": {"mcpServers": {"x": {}}},
        "a name may hold": {"mcpServers": {"bad name": {"url": "http://x"}}},
        "url must be an http(s) URL": {"mcpServers": {"x": {"url": "ftp://x"}}},
        "'tools' must be a list": {"mcpServers": {"x": {"url": "http://x", "tools": "all"}}},
        "expected {\"mcpServers\"": {"servers": {}},
    }
    for expected, data in mistakes.items():
        with pytest.raises(McpConfigError) as raised:
            parse_mcp_config(json.loads(json.dumps(data)), {})
        assert expected in str(raised.value)


def test_a_bad_mcp_config_stops_the_start_with_one_line(start_app, tmp_path):
    from bot.runtime import StartupError

    path = tmp_path / "mcp.json"
    path.write_text('{"mcpServers": {"x": {"url": "https://x/mcp", "headers": {"A": "${NOT_SET_ANYWHERE}"}}}}')
    with pytest.raises(StartupError) as raised:
        start_app(MCP_CONFIG=str(path))
    assert str(raised.value) == (f"Invalid MCP_CONFIG: {path}: server 'x', headers.A: the environment has no "
                                 "NOT_SET_ANYWHERE (set it, or remove ${NOT_SET_ANYWHERE}).")


async def test_a_connection_lost_under_a_call_is_made_again():
    first = McpHttpServer("orders").start()
    server = McpServer(ServerConfig("orders", url=first.url), retry_seconds=(0.1,))
    server.start()
    second = None
    try:
        await server.first_attempt(10)
        spec = next(s for s in server.tools() if s.original == "lookup_order")
        await asyncio.to_thread(first.stop)
        with pytest.raises(Exception):
            await server.call(spec, {"order_id": "A-1"}, CONTEXT)
        await until(lambda: server.state == DOWN)
        second = await asyncio.to_thread(lambda: McpHttpServer("orders", port=first.port).start())
        await until(lambda: server.state == UP, timeout=15)
        assert (await server.call(spec, {"order_id": "A-1"}, CONTEXT)).text.startswith("Order A-1")
        assert second.calls == ["lookup_order:A-1"]
    finally:
        await server.close()
        if second is not None:
            second.stop()


ROOT = str(Path(__file__).resolve().parent.parent)


def stdio_config() -> ServerConfig:
    """The test server over stdio, as the bot starts a ``command`` server."""
    return ServerConfig("local", command=sys.executable, args=("-m", "tests.fakes.mcp_tools", "local"),
                        env=(("PYTHONPATH", ROOT),))


async def test_a_stdio_server_that_crashes_is_down_at_once_says_why_and_comes_back(caplog):
    server = McpServer(stdio_config(), retry_seconds=(0.2,))
    server.start()
    try:
        await server.first_attempt(20)
        assert server.state == UP
        specs = {spec.original: spec for spec in server.tools()}
        first_pid = (await server.call(specs["pid"], {}, CONTEXT)).text
        with caplog.at_level(logging.WARNING, logger="bot.tools.mcp_servers"):
            with pytest.raises(Exception):
                await server.call(specs["crash"], {}, CONTEXT)
            assert server.state == DOWN and server.tools() == []  # at once, not at the next listing
            await until(lambda: server.state == UP, timeout=20)  # started again, with backoff
        said = [r.getMessage() for r in caplog.records if "local" in r.getMessage()]
        assert any("went away (connection closed)" in line for line in said), said
        assert sum("lost the connection to the orders database" in line for line in said) == 1, said
        assert (await server.call(specs["pid"], {}, CONTEXT)).text != first_pid
    finally:
        await server.close()


async def test_a_stdio_server_killed_between_calls_is_noticed_by_its_ping():
    server = McpServer(stdio_config(), retry_seconds=(5.0,), health_seconds=0.2)
    server.start()
    try:
        await server.first_attempt(20)
        pid = int((await server.call(next(s for s in server.tools() if s.original == "pid"), {}, CONTEXT)).text)
        os.kill(pid, signal.SIGKILL)
        await until(lambda: server.state == DOWN, timeout=5)
        assert server.problem
    finally:
        await server.close()


def test_a_disabled_server_is_not_started():
    servers = parse_mcp_config({"mcpServers": {"on": {"url": "http://x/mcp"},
                                               "off": {"url": "http://y/mcp", "disabled": True}}}, {})
    assert [s.name for s in servers] == ["on"]
    with pytest.raises(McpConfigError, match="'disabled' must be true or false"):
        parse_mcp_config({"mcpServers": {"x": {"url": "http://x/mcp", "disabled": "yes"}}}, {})
