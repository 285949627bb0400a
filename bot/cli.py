"""Command line: ``python -m bot serve | socket | chat | manifest | feedback export``.

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

from bot.settings import ConfigError, ConsoleSettings, ManifestSettings, Settings, load_settings, require_app_token

log = logging.getLogger("bot")


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "httpx2", "openai", "slack_sdk", "slack_bolt", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


async def serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from bot.runtime import build_runtime

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

    from bot.web import create_web_app

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

    from bot.runtime import build_runtime

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


async def chat(settings: Settings) -> None:
    from bot.console import run_console
    from bot.runtime import build_core

    core = await build_core(settings)
    try:
        await run_console(core, sys.stdin, sys.stdout)
    finally:
        await core.aclose()


def manifest(settings: Settings, url: str | None, socket_mode: bool) -> None:
    from bot.slack.manifest import build_manifest, manifest_yaml
    from bot.prompts import PromptError, load_catalog
    from bot.runtime import StartupError

    try:
        catalog = load_catalog(settings.prompts_dir, reserved_commands=frozenset({settings.management_command}))
    except PromptError as exc:
        raise StartupError(f"Invalid prompt file {exc}") from None
    document = build_manifest(
        catalog, url=url, name=settings.bot_name, management_command=settings.management_command, socket_mode=socket_mode
    )
    sys.stdout.write(manifest_yaml(document))


async def feedback_export(settings: Settings, output: str | None) -> None:
    from redis.exceptions import RedisError

    from bot.feedback import export_feedback
    from bot.runtime import StartupError
    from bot.memory.store import ConversationStore, connect

    if settings.embedded_store:
        raise StartupError("REDIS_URL is not set: feedback lives in the Redis the bot uses; set REDIS_URL to export it.")
    store = ConversationStore(
        connect(settings.redis_url), key_prefix=settings.redis_key_prefix, ttl_seconds=settings.conversation_ttl_seconds
    )
    try:
        try:
            await store.ping()
        except (RedisError, OSError) as exc:
            raise StartupError(f"Cannot reach Redis at REDIS_URL ({type(exc).__name__}): start Redis or fix the URL.") from None
        if output is None:
            count = await export_feedback(store, sys.stdout)
        else:
            with open(output, "w", encoding="utf-8") as out:
                count = await export_feedback(store, out)
    finally:
        await store.close()
    print(f"exported {count} rating(s)", file=sys.stderr)


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
    commands.add_parser("chat", help="chat in the terminal through the same pipeline, without Slack")
    manifest_cmd = commands.add_parser("manifest", help="print the Slack app manifest (YAML) for the current prompts")
    manifest_cmd.add_argument("--url", help="the bot's public base URL, e.g. https://bot.example.com")
    manifest_cmd.add_argument("--socket-mode", action="store_true", help="for Socket Mode (no request URLs)")
    feedback_cmd = commands.add_parser("feedback", help="work with 👍/👎 feedback")
    feedback_actions = feedback_cmd.add_subparsers(dest="feedback_command", required=True)
    export_cmd = feedback_actions.add_parser("export", help="write every stored rating as JSONL (question, answer, rating, metadata)")
    export_cmd.add_argument("--output", "-o", help="a file to write (default: standard output)")
    args = parser.parse_args(argv)

    from bot.runtime import StartupError

    try:
        if args.command == "manifest":
            manifest(load_settings(kind=ManifestSettings), args.url, args.socket_mode)
            return 0
        if args.command == "feedback":
            _run(feedback_export(load_settings(kind=ManifestSettings), args.output))
            return 0
        settings = load_settings(kind=ConsoleSettings if args.command == "chat" else Settings)
        _configure_logging("WARNING" if args.command == "chat" and settings.log_level == "INFO" else settings.log_level)
        if args.command == "serve":
            _run(serve(settings, args.host, args.port))
        elif args.command == "socket":
            _run(socket(settings))
        else:
            _run(chat(settings))
    except (ConfigError, StartupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0
