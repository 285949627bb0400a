"""A real MCP server (the ``mcp`` SDK's own) with the kinds of tools the bot meets:
ordinary, slow, failing and destructive.  Served over streamable HTTP on localhost
(``McpHttpServer``), or over stdio when run as a script: ``python mcp_tools.py``."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ResourceLink, TextContent, ToolAnnotations

ORDERS = {"A-1": "shipped on 2026-11-20", "A-2": "waiting for payment",
          "A-9": "held: the buyer asks to be called on +1 415 555 0199 or written to at buyer@example.org"}


def build_server(name: str = "orders", required_header: tuple[str, str] | None = None) -> MCPServer:
    server = MCPServer(name, log_level="WARNING")
    calls: list[str] = []
    server.calls = calls  # type: ignore[attr-defined]

    @server.tool(title="Looking up an order", description="The status of an order, by its id (like A-1).")
    def lookup_order(order_id: str) -> list[TextContent | ResourceLink]:
        calls.append(f"lookup_order:{order_id}")
        status = ORDERS.get(order_id)
        if status is None:
            return [TextContent(text=f"No order {order_id}.")]
        return [TextContent(text=f"Order {order_id}: {status}."),
                ResourceLink(name=f"order {order_id}", uri=f"https://orders.example.com/{order_id}")]

    @server.tool(description="Waits the given number of seconds, then says so.")
    async def slow(seconds: float) -> str:
        calls.append(f"slow:{seconds}")
        await asyncio.sleep(seconds)
        return f"waited {seconds}s"

    waiting: list[asyncio.Future[None]] = []

    @server.tool(description="Waits until a second caller arrives (both must run at once), at most 5 seconds.")
    async def meet(who: str) -> str:
        calls.append(f"meet:{who}")
        loop = asyncio.get_running_loop()
        mine = loop.create_future()
        for other in waiting:
            if not other.done():
                other.set_result(None)
                return f"{who} met someone"
        waiting.append(mine)
        try:
            await asyncio.wait_for(mine, 5)
        except TimeoutError:
            return f"{who} was alone"
        return f"{who} met someone"

    @server.tool(description="Always fails.")
    def broken() -> str:
        calls.append("broken")
        raise RuntimeError("database password is hunter2")  # must never reach the user

    @server.tool(description="Deletes an order for good.", annotations=ToolAnnotations(destructive_hint=True))
    def delete_order(order_id: str) -> str:
        calls.append(f"delete_order:{order_id}")
        ORDERS.pop(order_id, None)
        return f"Order {order_id} deleted."

    @server.tool(description="Adds a tool named as given, and tells listening clients the tool list changed.")
    async def grow(name: str, ctx: Context) -> str:
        calls.append(f"grow:{name}")

        def added() -> str:
            return f"I am {name}"

        server.add_tool(added, name=name, description=f"The tool {name}.")
        await ctx.notify_tools_changed()
        return f"added {name}"

    @server.tool(description="Says what went wrong on standard error and exits (a server that crashes).")
    def crash() -> str:
        import os

        print("fatal: lost the connection to the orders database", file=sys.stderr, flush=True)
        os._exit(3)

    @server.tool(description="This server's process id.")
    def pid() -> str:
        import os

        return str(os.getpid())

    @server.tool(description="A very long report.")
    def long_report() -> str:
        calls.append("long_report")
        return "\n".join(f"line {n}: " + "lorem ipsum dolor sit amet " * 4 for n in range(2000))

    return server


class McpHttpServer:
    """The server over streamable HTTP in a thread, on a free port."""

    def __init__(self, name: str = "orders", port: int = 0) -> None:
        self.server = build_server(name)
        self.calls: list[str] = self.server.calls  # type: ignore[attr-defined]
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self.port = self._sock.getsockname()[1]
        self.headers_seen: list[dict[str, str]] = []
        self._uvicorn: uvicorn.Server | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> "McpHttpServer":
        self._thread.start()
        deadline = time.monotonic() + 20
        while self._uvicorn is None or not self._uvicorn.started:
            if time.monotonic() > deadline:
                raise AssertionError("the MCP server did not start")
            time.sleep(0.02)
        return self

    def _run(self) -> None:
        app = self.server.streamable_http_app(host="127.0.0.1")
        seen = self.headers_seen

        async def recording(scope, receive, send):  # noqa: ANN001 - ASGI
            if scope["type"] == "http":
                seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
            await app(scope, receive, send)

        config = uvicorn.Config(recording, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=1)
        self._uvicorn = uvicorn.Server(config)
        asyncio.run(self._uvicorn.serve(sockets=[self._sock]))

    def stop(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        self._thread.join(10)


if __name__ == "__main__":
    build_server(sys.argv[1] if len(sys.argv) > 1 else "local").run("stdio")
