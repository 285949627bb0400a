"""Command line: ``python -m bot serve | socket``.

Start-up problems (a missing setting, Redis or Slack unreachable, a bad prompt
file) print one line saying what to fix and exit with status 2, no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any, Coroutine, Iterator, Sequence

from .settings import ConfigError, Settings, load_settings, require_app_token

log = logging.getLogger("bot")


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "httpx2", "openai", "slack_sdk", "slack_bolt", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


async def serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from .runtime import build_runtime

    class Server(uvicorn.Server):
        """uvicorn re-raises SIGTERM after shutting down, which would kill the
        process before the answers in progress are finished; stop gracefully instead."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self._request_exit)
            try:
                yield
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

        def _request_exit(self) -> None:
            self.force_exit = self.should_exit  # a second signal forces it
            self.should_exit = True

    from .web import create_web_app

    runtime = await build_runtime(settings)
    config = uvicorn.Config(
        create_web_app(runtime),
        host=host,
        port=port,
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    log.info("serving Slack events on http://%s:%d/slack/events", host, port)
    try:
        await Server(config).serve()
    finally:
        await runtime.aclose()
        log.info("stopped")


async def socket(settings: Settings) -> None:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from .runtime import build_runtime

    app_token = require_app_token(settings)
    runtime = await build_runtime(settings)
    handler = AsyncSocketModeHandler(runtime.bolt_app, app_token)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await handler.connect_async()
        log.info("connected to Slack over Socket Mode")
        await stop.wait()
    finally:
        await handler.close_async()
        await runtime.aclose()


def _run(coro: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop where it is installed (it is a dependency on Linux and macOS)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="An AI assistant for Slack.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="serve the Events API over HTTP")
    serve_cmd.add_argument("--host", default="0.0.0.0")
    serve_cmd.add_argument("--port", type=int, default=3000)
    commands.add_parser("socket", help="connect over Socket Mode (needs SLACK_APP_TOKEN)")
    args = parser.parse_args(argv)

    from .runtime import StartupError

    try:
        settings = load_settings()
        _configure_logging(settings.log_level)
        if args.command == "serve":
            _run(serve(settings, args.host, args.port))
        else:
            _run(socket(settings))
    except (ConfigError, StartupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0
