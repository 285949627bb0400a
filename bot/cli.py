"""Command line: ``python -m bot serve | socket | chat | manifest | feedback export``.

Start-up problems (a missing setting, Redis or Slack unreachable, a bad prompt
file) print one line saying what to fix and exit with status 2, no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import contextlib
import logging
import signal
import sys
from typing import Any, Coroutine, Iterator, Sequence

from bot.operations.operator_commands import audit_report, feedback_export, people_command, report_usage
from bot.settings import ConfigError, ConsoleSettings, ManifestSettings, Settings, load_settings, require_app_token

log = logging.getLogger("bot")


def _configure_logging(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        from bot.observability.logs import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    quiet = max(logging.WARNING, logging.getLevelName(level))
    for noisy in ("httpx", "httpx2", "openai", "slack_sdk", "slack_bolt", "uvicorn.access", "mcp", "pypdf"):
        logging.getLogger(noisy).setLevel(quiet)
    # slack-sdk formats a debug line of every request's whole payload unless its client's own
    # logger (not the parent's) has a level above DEBUG: about a tenth of the bot's CPU per answer.
    logging.getLogger("slack_sdk.web.async_base_client").setLevel(quiet)


async def serve(settings: Settings, host: str, port: int, sock: Any = None, worker: int | None = None) -> None:
    """Serve the Events API; ``sock``: a listening socket from the supervisor (``--workers``)."""
    import uvicorn

    from bot.runtime import build_runtime
    from bot.web import create_web_app

    runtime = await build_runtime(settings)
    gc.freeze()  # what start-up made lives as long as the process: no collection scans it again (shorter pauses)
    loop = asyncio.get_running_loop()
    deadline: list[float] = []

    class Server(uvicorn.Server):
        """On SIGTERM/SIGINT: stop taking new work at once, close the listener
        (uvicorn waits at most 2 s for acks in progress), then let answers finish
        until the grace period ends.  uvicorn would re-raise the signal after its
        own shutdown and kill the process early; a second signal forces the exit."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self._request_exit)
            try:
                yield
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

        def _request_exit(self) -> None:
            if not deadline:
                deadline.append(loop.time() + settings.shutdown_grace_seconds)
                runtime.dispatcher.stopping = True  # work arriving now waits in Redis for another process
                log.info("stopping: no new work; answers in progress have %.0fs to finish", settings.shutdown_grace_seconds)
            self.force_exit = self.should_exit  # a second signal forces it
            self.should_exit = True

    config = uvicorn.Config(
        create_web_app(runtime),
        host=host,
        port=port,
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    if worker is None:
        log.info("serving Slack events on http://%s:%d/slack/events", host, port)
    try:
        await Server(config).serve(sockets=[sock] if sock is not None else None)
    finally:
        await runtime.stop(deadline[0] if deadline else loop.time() + settings.shutdown_grace_seconds)
        log.info("stopped")


def supervise(settings: Settings, host: str, port: int, workers: int) -> int:
    from bot.supervisor import PortTaken, Supervisor

    if settings.embedded_store:
        print(f"error: --workers {workers} needs REDIS_URL: the embedded store lives inside one process, so each "
              "worker would keep its own conversations and answer twice. Set REDIS_URL, or run one worker.",
              file=sys.stderr)
        return 2
    try:
        return Supervisor(host, port, workers).run()
    except PortTaken as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


async def check_app_token(settings: Settings, app_token: str) -> None:
    """Ask Slack for a Socket Mode URL once, so a bad or revoked SLACK_APP_TOKEN is one
    clear line at start-up instead of a reconnect loop."""
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.runtime import StartupError

    client = AsyncWebClient(base_url=settings.slack_api_url, timeout=15)
    try:
        await client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        error = exc.response.get("error")
        raise StartupError(
            f"Slack rejected SLACK_APP_TOKEN ({error}): create an app-level token with the connections:write scope "
            "on your app's 'Basic Information' page and enable Socket Mode."
        ) from None
    except Exception as exc:
        raise StartupError(
            f"Cannot reach the Slack Web API at SLACK_API_URL ({type(exc).__name__}): check the network or the setting."
        ) from None


def serve_metrics(runtime: Any, port: int) -> None:
    """Socket Mode has no HTTP server of its own: /metrics on METRICS_PORT (0: none)."""
    if port:
        from bot.observability.metrics_access import start_metrics_server
        from bot.runtime import StartupError

        token = runtime.settings.metrics_token
        try:
            start_metrics_server(port, runtime.core.metrics.registry, token.get_secret_value() if token else None)
        except OSError as exc:
            raise StartupError(f"Cannot serve metrics on METRICS_PORT {port} ({exc.strerror}): set METRICS_PORT to a "
                               "free port, or 0 for none.") from None
        log.info("metrics at http://0.0.0.0:%d/metrics", port)


async def socket(settings: Settings) -> None:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from bot.runtime import build_runtime

    app_token = require_app_token(settings)
    if settings.distributed:
        raise ConfigError("Socket Mode serves the one workspace of SLACK_BOT_TOKEN: set it, or run 'python -m bot serve' "
                          "(HTTP) to install the app in many workspaces with SLACK_CLIENT_ID and SLACK_CLIENT_SECRET.")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await check_app_token(settings, app_token)
    runtime = await build_runtime(settings)
    try:
        serve_metrics(runtime, settings.metrics_port)
    except BaseException:
        await runtime.aclose()
        raise
    handler = AsyncSocketModeHandler(runtime.bolt_app, app_token, web_client=runtime.slack)
    deadline = None
    try:
        connecting = asyncio.ensure_future(handler.connect_async())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if connecting.done() and connecting.exception() is None:
            log.info("connected to Slack over Socket Mode")
            await stopping
        deadline = loop.time() + settings.shutdown_grace_seconds
        runtime.dispatcher.stopping = True
        connecting.cancel()
        stopping.cancel()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(handler.close_async(), 2)
        await runtime.stop(deadline or loop.time() + settings.shutdown_grace_seconds)


async def chat(settings: Settings) -> None:
    from bot.console import run_console
    from bot.runtime import build_core

    core = await build_core(settings)
    loop = asyncio.get_running_loop()
    console = asyncio.ensure_future(run_console(core, sys.stdin, sys.stdout))
    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C or SIGTERM ends the console at once
        loop.add_signal_handler(sig, console.cancel)
    try:
        await console
    except asyncio.CancelledError:
        sys.stdout.write("\n")
    finally:
        await core.aclose(grace_seconds=1)


def manifest(settings: Settings, url: str | None, socket_mode: bool) -> None:
    from bot.slack.manifest import build_manifest, manifest_yaml
    from bot.prompts import PromptError, load_catalog
    from bot.runtime import StartupError

    try:
        catalog = load_catalog(settings.prompts_dir, reserved_commands=frozenset({settings.management_command}))
    except PromptError as exc:
        raise StartupError(f"Invalid prompt file {exc}") from None
    document = build_manifest(
        catalog, url=url, name=settings.bot_name, management_command=settings.management_command, socket_mode=socket_mode,
        search=settings.tool_search_workspace, distributed=bool(settings.slack_client_id),
        surface=settings.slack_agent_surface, canvases=settings.tool_write_canvas,
    )
    sys.stdout.write(manifest_yaml(document))


def _run(coro: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop where it is installed (it is a dependency on Linux and macOS)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def _run_value(coro: Coroutine[Any, Any, int]) -> int:
    result: list[int] = []

    async def keep() -> None:
        result.append(await coro)

    _run(keep())
    return result[0]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    from bot.runtime import StartupError

    try:
        done = _operator_command(args)
        return done if done is not None else _bot_command(args)
    except (ConfigError, StartupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="An AI assistant for Slack.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="serve the Events API over HTTP")
    serve_cmd.add_argument("--host", default="0.0.0.0")
    serve_cmd.add_argument("--port", type=int, default=3000)
    serve_cmd.add_argument("--workers", type=int, help="processes serving the port (default: WEB_CONCURRENCY, else 1)")
    serve_cmd.add_argument("--fd", type=int, help=argparse.SUPPRESS)  # a worker's listening socket, from the supervisor
    serve_cmd.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    commands.add_parser("socket", help="connect over Socket Mode (needs SLACK_APP_TOKEN)")
    commands.add_parser("chat", help="chat in the terminal through the same pipeline, without Slack")
    manifest_cmd = commands.add_parser("manifest", help="print the Slack app manifest (YAML) for the current prompts")
    manifest_cmd.add_argument("--url", help="the bot's public base URL, e.g. https://bot.example.com")
    manifest_cmd.add_argument("--socket-mode", action="store_true", help="for Socket Mode (no request URLs)")
    _add_operator_commands(commands)
    return parser


def _add_operator_commands(commands: Any) -> None:
    """The commands an operator runs beside the bot: feedback, keygen, check, usage, eval."""
    feedback_cmd = commands.add_parser("feedback", help="work with 👍/👎 feedback")
    feedback_actions = feedback_cmd.add_subparsers(dest="feedback_command", required=True)
    export_cmd = feedback_actions.add_parser("export", help="write every stored rating as JSONL (question, answer, rating, metadata)")
    export_cmd.add_argument("--output", "-o", help="a file to write (default: standard output)")
    export_cmd.add_argument("--format", choices=["jsonl", "eval", "openai-chat", "preference"], default="jsonl",
                            help="jsonl: every rating; eval: 👎-rated answers as an evaluation case file; openai-chat: "
                                 "👍-rated exchanges for fine-tuning; preference: 👎/👍 pairs for preference tuning")
    export_cmd.add_argument("--team", help="only this workspace's ratings (its team id)")
    export_cmd.add_argument("--include-private", action="store_true",
                            help="also ratings from DMs, group DMs and private channels (left out by default)")
    commands.add_parser("keygen", help="print a new TOKEN_ENCRYPTION_KEY (a Fernet key)")
    commands.add_parser("check", help="check settings, Slack, the model, Redis, prompts, evals and prices")
    usage_cmd = commands.add_parser("usage", help="tokens and cost per user, channel, model, prompt or workspace")
    usage_cmd.add_argument("--since", help="first UTC day, like 2026-11-01 (default: the first of this month)")
    usage_cmd.add_argument("--until", help="last UTC day (default: today)")
    usage_cmd.add_argument("--by", choices=["user", "channel", "model", "prompt", "team"], default="user")
    for usage_format in ("json", "csv"):
        usage_cmd.add_argument(f"--{usage_format}", action="store_const", const=usage_format, dest="usage_format")
    from bot.knowledge.command import add_knowledge_parser
    from bot.quality.command import add_report_parser
    from bot.training.command import add_finetune_parser

    for add_parser in (add_report_parser, add_finetune_parser, add_knowledge_parser):
        add_parser(commands)
    audit_cmd = commands.add_parser("audit", help="the audit log: settings and admin actions, tool approvals and calls")
    audit_cmd.add_argument("--since", help="how far back: 30m, 24h, 7d, or a UTC date or time (default: everything kept)")
    audit_cmd.add_argument("--user", help="only this user's entries (U…)")
    audit_cmd.add_argument("--json", action="store_true", dest="audit_json", help="one JSON object a line")
    for name, help_text in (("export-user", "write everything kept about a person as JSON"),
                            ("forget-user", "delete a person's turns and ratings, anonymise their usage (with --yes)")):
        person_cmd = commands.add_parser(name, help=help_text)
        person_cmd.add_argument("user", help="their Slack user id (U…)")
        person_cmd.add_argument("-o", "--output", help="export-user: write to this file (default: standard output)")
        person_cmd.add_argument("--yes", action="store_true", help="forget-user: really delete")
    eval_cmd = commands.add_parser("eval", help="run evaluation cases (YAML under EVALS_DIR) and report how well they pass")
    eval_cmd.add_argument("paths", nargs="*", help="case files or folders (default: EVALS_DIR)")
    eval_cmd.add_argument("--model", action="append", default=[], help="a model to evaluate (repeat it to compare models)")
    eval_cmd.add_argument("--routes", action="store_true", help="compare the models MODEL_ROUTES sends requests to")
    eval_cmd.add_argument("--prompts-dir", help="a second prompts folder to compare with PROMPTS_DIR")
    eval_cmd.add_argument("--repeat", type=int, help="samples per case (default: each file's 'repeat')")
    eval_cmd.add_argument("--concurrency", type=int, default=4, help="samples run at once (default 4)")
    eval_cmd.add_argument("--json", dest="json_path", help="write the results as JSON to this file")
    eval_cmd.add_argument("--junit", dest="junit_path", help="write the results as JUnit XML to this file")
    eval_cmd.add_argument("-k", dest="name_filter", help="only cases whose name contains this text")


def _operator_command(args: argparse.Namespace) -> int | None:
    """Run a command that is not the bot itself; its exit status (None: it is the bot)."""
    if args.command == "manifest":
        manifest(load_settings(kind=ManifestSettings), args.url, args.socket_mode)
        return 0
    if args.command == "check":
        from bot.operations.doctor import run_checks

        try:
            check_settings = load_settings()
        except ConfigError as exc:
            print(f"✗ settings: {exc}")
            return 1
        return _run_value(run_checks(check_settings, sys.stdout))
    if args.command == "usage":
        _run(report_usage(load_settings(kind=ManifestSettings), args.since, args.until, args.by,
                          args.usage_format or "table"))
        return 0
    if args.command == "eval":
        from bot.evals.command import run_evals

        if args.repeat is not None and args.repeat < 1 or args.concurrency < 1:
            print("error: --repeat and --concurrency take a positive number", file=sys.stderr)
            return 2
        eval_settings = load_settings(kind=ConsoleSettings)
        _configure_logging("WARNING" if eval_settings.log_level == "INFO" else eval_settings.log_level)
        return _run_value(run_evals(
            eval_settings, paths=args.paths, models=args.model, prompts_dir=args.prompts_dir, repeat=args.repeat,
            concurrency=args.concurrency, json_path=args.json_path, junit_path=args.junit_path,
            name_filter=args.name_filter, routes=args.routes))
    if args.command == "feedback":
        from bot.operations.feedback import Selection

        _run(feedback_export(load_settings(kind=ManifestSettings), args.output, args.format,
                             Selection(args.team, args.include_private)))
        return 0
    if args.command in ("report", "finetune", "knowledge"):
        from bot.knowledge.command import knowledge_command
        from bot.quality.command import quality_report
        from bot.training.command import finetune_command

        if args.command != "report":
            run = finetune_command if args.command == "finetune" else knowledge_command
            return _run_value(run(load_settings(kind=ConsoleSettings), args))
        _run(quality_report(load_settings(kind=ManifestSettings), args.since, args.experiment, args.html_path,
                            args.report_json))
        return 0
    if args.command == "audit":
        _run(audit_report(load_settings(kind=ManifestSettings), args.since, args.user, args.audit_json))
        return 0
    if args.command in ("export-user", "forget-user"):
        return _run_value(people_command(load_settings(kind=ManifestSettings), args.command.split("-")[0], args.user,
                                         args.output, args.yes))
    if args.command == "keygen":
        from bot.workspaces.sealing import new_key

        print(new_key())
        return 0
    return None


def _bot_command(args: argparse.Namespace) -> int:
    """serve, socket or chat."""
    settings = load_settings(kind=ConsoleSettings if args.command == "chat" else Settings)
    _configure_logging("WARNING" if args.command == "chat" and settings.log_level == "INFO" else settings.log_level,
                       settings.log_format)
    if args.command == "serve":
        workers = args.workers if args.workers is not None else settings.web_concurrency
        if args.fd is None and workers > 1:
            return supervise(settings, args.host, args.port, workers)
        import socket as net

        sock = net.socket(fileno=args.fd) if args.fd is not None else None
        _run(serve(settings, args.host, args.port, sock, args.worker))
    elif args.command == "socket":
        _run(socket(settings))
    else:
        _run(chat(settings))
    return 0
