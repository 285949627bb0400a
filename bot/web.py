"""The HTTP surface: ``POST /slack/events``, ``GET /healthz`` and ``GET /metrics``.

Bodies are checked before Bolt sees them, so a malformed request gets a 4xx
instead of an exception: oversized (413), not UTF-8 or not parseable (400, or
401 when the signature is wrong as well).
"""

from __future__ import annotations

import hashlib
import os
import hmac
import json
import logging
import asyncio
import contextlib
import time
from collections import deque
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl

from redis.exceptions import RedisError
from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.delivery.inbox import Ticket, entering, is_durable, leaving
from bot.observability.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from bot.observability.metrics_access import UNAUTHORIZED, authorized
from bot.runtime import Runtime
from bot.slack.events import Ignored, classify
from bot.slack.manifest import INSTALL_PATH, REDIRECT_PATH
from bot.workspaces.install_limit import InstallLimit

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # Slack's payloads are far smaller


def parsed_body(body: bytes, content_type: str) -> dict[str, Any] | None:
    """``body`` as Bolt will read it (JSON events, form-encoded commands and interactions),
    or None when Bolt could not parse it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text:
        return None
    try:
        if content_type.startswith("application/json") or text.startswith("{"):
            value = json.loads(text)
            return value if isinstance(value, dict) else None
        params = dict(parse_qsl(text, keep_blank_values=True))
        if "payload" in params:
            payload = json.loads(params["payload"])
            return payload if isinstance(payload, dict) else None
        return params or None
    except ValueError:
        return None



def is_signed_by_slack(verifier: SignatureVerifier, secret: bytes, body: bytes, headers: dict[str, str]) -> bool:
    """Slack's v0 signature check, also for bodies that are not UTF-8 (which
    the SDK's verifier cannot decode)."""
    try:
        return verifier.is_valid_request(body, headers)
    except UnicodeDecodeError:
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 60 * 5:
            return False
        expected = "v0=" + hmac.new(secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)


class BodyTooLarge(Exception):
    pass


async def read_capped(request: Request, cap: int) -> bytes:
    """The request body, read as it arrives and refused (BodyTooLarge) as soon as it
    passes ``cap`` bytes: a chunked body without Content-Length is never buffered whole."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > cap):
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class Intake:
    """Events acked and waiting for Bolt, handled in arrival order by one task that gives
    way while requests are still arriving (for at most ``MAX_DEFER_SECONDS``): during a
    burst the event loop spends itself on acks first, then on the work behind them."""

    MAX_DEFER_SECONDS = 0.05

    def __init__(self, handle: Callable[[Any], Awaitable[None]], tasks: Any) -> None:
        self.handle = handle
        self.tasks = tasks
        self.receiving = 0  # requests being read and acked now
        self._queue: deque[tuple[float, Any]] = deque()
        self._draining = False

    def add(self, item: Any) -> None:
        self._queue.append((time.monotonic(), item))
        if not self._draining:
            self._draining = True
            self.tasks.spawn(self._drain())

    async def _drain(self) -> None:
        try:
            while self._queue:
                if self.receiving and time.monotonic() - self._queue[0][0] < self.MAX_DEFER_SECONDS:
                    await asyncio.sleep(0.001)
                    continue
                # Everything that may go now goes at once: its tasks run together, in order.
                while self._queue and (not self.receiving or time.monotonic() - self._queue[0][0] >= self.MAX_DEFER_SECONDS):
                    self.tasks.spawn(self.handle(self._queue.popleft()[1]))
                await asyncio.sleep(0)
        finally:
            self._draining = False


LAST_SLACK_RETRY = 3  # Slack tries an event four times: at once, then retries 1, 2 and 3


def last_try(request: Request) -> bool:
    try:
        return int(request.headers.get("x-slack-retry-num") or 0) >= LAST_SLACK_RETRY
    except ValueError:
        return False


def answerable(body: dict[str, Any], identity: Any) -> bool:
    """Whether an event may need an answer (a message Slack would not deliver again): kept
    in the inbox before its 200.  The bot's user id is the installation's (``authorizations``)
    in distributed mode; a bot's message is never answered, whatever its id."""
    event = body.get("event")
    if not isinstance(event, dict) or not is_durable(event.get("type")):
        return False
    authorizations = body.get("authorizations")
    first = authorizations[0] if isinstance(authorizations, list) and authorizations else None
    bot_user = str(first.get("user_id") or "") if isinstance(first, dict) else ""
    try:
        return not isinstance(classify(body, bot_user or getattr(identity, "user_id", "") or ""), Ignored)
    except (TypeError, ValueError, AttributeError, KeyError):  # a shape Bolt will refuse anyway
        return False


def create_web_app(runtime: Runtime) -> Starlette:
    bolt_app = runtime.bolt_app
    secret = runtime.settings.slack_signing_secret.get_secret_value()
    verifier = SignatureVerifier(secret)

    async def slack_events(request: Request) -> Response:
        intake.receiving += 1
        try:
            return await receive(request)
        finally:
            intake.receiving -= 1

    async def receive(request: Request) -> Response:
        try:
            body = await read_capped(request, MAX_BODY_BYTES)
        except BodyTooLarge:
            return PlainTextResponse("Request body too large", status_code=413)
        parsed = parsed_body(body, request.headers.get("content-type", ""))
        if parsed is None:
            if not is_signed_by_slack(verifier, secret.encode(), body, dict(request.headers)):
                return PlainTextResponse("Invalid signature", status_code=401)
            return PlainTextResponse("Malformed request body", status_code=400)
        if parsed.get("type") == "event_callback" and isinstance(parsed.get("event"), dict):
            # An event needs nothing but a 200, which goes out now: under load the ack
            # never waits behind Bolt's work or the answers in progress.  Bolt checks the
            # signature again, and handles the event, right after.
            if not is_signed_by_slack(verifier, secret.encode(), body, dict(request.headers)):
                return PlainTextResponse("Invalid signature", status_code=401)
            try:
                bolt_request = to_async_bolt_request(request, body)
            except Exception as exc:  # Bolt could not make sense of a (signed) body's shape
                log.warning("malformed Slack request (%s): answered 400", type(exc).__name__)
                return PlainTextResponse("Malformed request body", status_code=400)
            ticket = None
            if inbox is not None and answerable(parsed, runtime.identity):
                try:  # a 200 means the event is safe: it is in Redis first
                    ticket = await inbox.put(body, request.headers.get("content-type", "application/json"))
                except (RedisError, OSError) as exc:
                    if not last_try(request):
                        log.error("could not keep an event (%s): answered 503 so that Slack sends it again",
                                  type(exc).__name__)
                        return PlainTextResponse("Store unavailable", status_code=503)
                    # Slack's last try: it will not send it again, so it is taken now; the asker is
                    # told the memory is unavailable once the answer cannot be queued.
                    log.error("could not keep an event on Slack's last try (%s): handling it now", type(exc).__name__)
            intake.add((bolt_request, ticket))
            return Response(status_code=200)
        try:
            response = await bolt_app.async_dispatch(to_async_bolt_request(request, body))
        except Exception as exc:  # Bolt could not make sense of a (signed) body's shape
            log.warning("malformed Slack request (%s): answered 400", type(exc).__name__)
            return PlainTextResponse("Malformed request body", status_code=400)
        return to_starlette_response(response)

    async def dispatch_event(item: tuple[Any, Ticket | None]) -> None:
        bolt_request, ticket = item
        entered = entering(ticket)  # Bolt's listener (started inside) releases it once the message is queued
        try:
            response = await bolt_app.async_dispatch(bolt_request)
        except Exception as exc:  # Bolt could not make sense of a (signed) body's shape
            log.warning("malformed Slack event (%s): ignored", type(exc).__name__)
            response = None
        finally:
            leaving(entered)
        if response is None or response.status >= 400:
            if response is not None:
                log.debug("Slack event not handled: Bolt answered %d", response.status)
            if ticket is not None:  # no listener will take it (e.g. a workspace that is not installed)
                with contextlib.suppress(RedisError, OSError):
                    await ticket.release()

    intake = Intake(dispatch_event, runtime.core.tasks)
    inbox = runtime.dispatcher.inbox

    def adopted(ticket: Ticket, body: bytes, content_type: str) -> None:
        """An event a stopped process acknowledged: signed again now (it was checked when it
        arrived; Slack's signature is good for five minutes) and handled like a new one."""
        timestamp = str(int(time.time()))
        headers = {"content-type": content_type, "x-slack-request-timestamp": timestamp,
                   "x-slack-signature": verifier.generate_signature(timestamp=timestamp, body=body.decode())}
        intake.add((AsyncBoltRequest(body=body.decode(), headers=headers), ticket))

    if inbox is not None:
        inbox.on_adopted = adopted

    async def healthz(_: Request) -> Response:
        try:
            await runtime.store.ping()
        except (RedisError, OSError):
            return JSONResponse({"status": "store unavailable"}, status_code=503)
        return JSONResponse({"status": "ok", "in_flight": len(runtime.core.tasks), "pid": os.getpid()})

    metrics_token = runtime.settings.metrics_token.get_secret_value() if runtime.settings.metrics_token else None

    async def metrics(request: Request) -> Response:
        """This process's Prometheus metrics (each process serves its own); METRICS_TOKEN guards them."""
        if not authorized(metrics_token, request.headers.get("authorization")):
            return PlainTextResponse(UNAUTHORIZED.decode(), status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return Response(runtime.core.metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    routes = [
        Route("/slack/events", slack_events, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    flow = runtime.install_flow
    if flow is not None:  # many workspaces: Bolt's OAuth flow

        limit = InstallLimit(runtime.settings.install_starts_per_minute)

        async def install(request: Request) -> Response:
            if not limit.allow(request.client.host if request.client else ""):
                return PlainTextResponse("Too many install attempts from your address: try again in a minute.",
                                         status_code=429, headers={"Retry-After": "60"})
            return to_starlette_response(await flow.handle_installation(to_async_bolt_request(request, b"")))

        async def oauth_redirect(request: Request) -> Response:
            return to_starlette_response(await flow.handle_callback(to_async_bolt_request(request, b"")))

        routes += [Route(INSTALL_PATH, install, methods=["GET"]), Route(REDIRECT_PATH, oauth_redirect, methods=["GET"])]
    return Starlette(routes=routes)
