"""The MCP servers file, in the format the MCP ecosystem uses (Claude Desktop, Cursor):

    {"mcpServers": {
        "orders": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer ${ORDERS_TOKEN}"},
                   "tools": ["search", "refund"], "confirm": ["refund"]},
        "files":  {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/srv"],
                   "env": {"LOG_LEVEL": "warn"}}}}

``${VAR}`` in headers, env, url and args is read from the environment, so secrets stay
out of the file.  ``tools`` limits which of a server's tools the bot offers; ``confirm``
names tools that run only once the asker approves; ``"disabled": true`` keeps a server in
the file but does not start it.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

log = logging.getLogger(__name__)


class McpConfigError(Exception):
    """The MCP servers file is wrong; the message is one line naming the file and the problem."""


@dataclass(frozen=True)
class ServerConfig:
    name: str
    url: str | None = None  # streamable HTTP
    headers: tuple[tuple[str, str], ...] = ()
    command: str | None = None  # stdio
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    allow: tuple[str, ...] | None = None  # None: every tool the server lists
    confirm: frozenset[str] = frozenset()

    @property
    def transport(self) -> str:
        return "http" if self.url else "stdio"

    def offers(self, tool: str) -> bool:
        return self.allow is None or tool in self.allow


def load_mcp_config(path: Path, environ: Mapping[str, str]) -> list[ServerConfig]:
    """Read and check the file; raises McpConfigError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise McpConfigError(f"{path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    except ValueError as exc:
        raise McpConfigError(f"{path}: not valid JSON ({exc})") from None
    return parse_mcp_config(data, environ, source=str(path))


def parse_mcp_config(data: Any, environ: Mapping[str, str], *, source: str = "mcp.json") -> list[ServerConfig]:
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        raise McpConfigError(f'{source}: expected {{"mcpServers": {{"name": {{...}}}}}}')
    enabled = []
    for name, entry in servers.items():
        disabled = entry.get("disabled", False) if isinstance(entry, dict) else False
        if not isinstance(disabled, bool):
            raise McpConfigError(f"{source}: server {name!r}: 'disabled' must be true or false")
        if disabled:  # the ecosystem's way to keep a server in the file but off
            log.info("MCP server %s is disabled in %s: not started", name, source)
            continue
        enabled.append(_server(name, entry, environ, source))
    return enabled


def _server(name: str, entry: Any, environ: Mapping[str, str], source: str) -> ServerConfig:
    where = f"{source}: server {name!r}"
    if not SERVER_NAME.match(name):
        raise McpConfigError(f"{where}: a name may hold letters, digits, '_' and '-' (at most 32)")
    if not isinstance(entry, dict):
        raise McpConfigError(f"{where}: expected an object")
    url, command = entry.get("url"), entry.get("command")
    if bool(url) == bool(command):
        raise McpConfigError(f'{where}: give either "url" (streamable HTTP) or "command" (stdio)')

    def text(value: Any, what: str) -> str:
        if not isinstance(value, str):
            raise McpConfigError(f"{where}: {what} must be a string")
        return _expand(value, environ, f"{where}, {what}")

    def pairs(key: str) -> tuple[tuple[str, str], ...]:
        value = entry.get(key) or {}
        if not isinstance(value, dict):
            raise McpConfigError(f"{where}: {key!r} must be an object")
        return tuple((str(k), text(v, f"{key}.{k}")) for k, v in value.items())

    def names(key: str) -> tuple[str, ...] | None:
        value = entry.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise McpConfigError(f"{where}: {key!r} must be a list of tool names")
        return tuple(value)

    args = entry.get("args") or []
    if not isinstance(args, list):
        raise McpConfigError(f"{where}: 'args' must be a list")
    if url is not None:
        url = text(url, "url")
        if not url.startswith(("http://", "https://")):
            raise McpConfigError(f"{where}: url must be an http(s) URL")
    return ServerConfig(
        name=name,
        url=url,
        headers=pairs("headers"),
        command=text(command, "command") if command else None,
        args=tuple(text(a, "args") for a in args),
        env=pairs("env"),
        allow=names("tools"),
        confirm=frozenset(names("confirm") or ()),
    )


def _expand(value: str, environ: Mapping[str, str], where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        variable = match.group(1)
        if variable not in environ:
            raise McpConfigError(f"{where}: the environment has no {variable} (set it, or remove ${{{variable}}})")
        return environ[variable]

    return VARIABLE.sub(replace, value)
