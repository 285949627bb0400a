"""The HTTP surface: ``POST /slack/events``, ``GET /healthz`` (ready: Redis answers),
``GET /livez`` (alive) and ``GET /metrics`` (and the
install pages with many workspaces); events go on through ``bot/event_receiver.py``.

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
import time
from typing import Any
from urllib.parse import parse_qsl

from redis.exceptions import RedisError
from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.event_receiver import EventReceiver
from bot.observability.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from bot.observability.metrics_access import UNAUTHORIZED, authorized
from bot.runtime import Runtime
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
            # An event needs nothing but a 200 (and, if it may need an answer, to be in Redis
            # first), which goes out now: under load the ack never waits behind Bolt's work or
            # the answers in progress.  Bolt checks the signature again, and handles it, right after.
            if not is_signed_by_slack(verifier, secret.encode(), body, dict(request.headers)):
                return PlainTextResponse("Invalid signature", status_code=401)
            try:
                bolt_request = to_async_bolt_request(request, body)
            except Exception as exc:  # Bolt could not make sense of a (signed) body's shape
                log.warning("malformed Slack request (%s): answered 400", type(exc).__name__)
                return PlainTextResponse("Malformed request body", status_code=400)
            return await events.accept(request, body, parsed, bolt_request)
        try:
            response = await bolt_app.async_dispatch(to_async_bolt_request(request, body))
        except Exception as exc:  # Bolt could not make sense of a (signed) body's shape
            log.warning("malformed Slack request (%s): answered 400", type(exc).__name__)
            return PlainTextResponse("Malformed request body", status_code=400)
        return to_starlette_response(response)

    events = EventReceiver(runtime, verifier)
    intake = events.intake

    routes = [
        Route("/slack/events", slack_events, methods=["POST"]),
        *health_routes(runtime),
        Route("/metrics", metrics_endpoint(runtime), methods=["GET"]),
    ]
    if runtime.install_flow is not None:  # many workspaces: Bolt's OAuth flow
        routes += install_routes(runtime.install_flow, runtime.settings.install_starts_per_minute)
    return Starlette(routes=routes)


def health_routes(runtime: Runtime) -> list[Route]:
    """``/healthz``: ready while Redis answers (a load balancer or Kubernetes' readiness);
    ``/livez``: alive while the process answers (a Redis outage is not cured by a restart)."""

    async def healthz(_: Request) -> Response:
        try:
            await runtime.store.ping()
        except (RedisError, OSError):
            return JSONResponse({"status": "store unavailable"}, status_code=503)
        return JSONResponse({"status": "ok", "in_flight": len(runtime.core.tasks), "pid": os.getpid()})

    async def livez(_: Request) -> Response:
        return JSONResponse({"status": "alive", "pid": os.getpid()})

    return [Route("/healthz", healthz, methods=["GET"]), Route("/livez", livez, methods=["GET"])]


def metrics_endpoint(runtime: Runtime) -> Any:
    token = runtime.settings.metrics_token.get_secret_value() if runtime.settings.metrics_token else None

    async def metrics(request: Request) -> Response:
        """This process's Prometheus metrics (each process serves its own); METRICS_TOKEN guards them."""
        if not authorized(token, request.headers.get("authorization")):
            return PlainTextResponse(UNAUTHORIZED.decode(), status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return Response(runtime.core.metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    return metrics


def install_routes(flow: Any, per_minute: int) -> list[Route]:
    """``/slack/install`` (a few starts per client address a minute) and the OAuth redirect."""
    limit = InstallLimit(per_minute)

    async def install(request: Request) -> Response:
        if not limit.allow(request.client.host if request.client else ""):
            return PlainTextResponse("Too many install attempts from your address: try again in a minute.",
                                     status_code=429, headers={"Retry-After": "60"})
        return to_starlette_response(await flow.handle_installation(to_async_bolt_request(request, b"")))

    async def oauth_redirect(request: Request) -> Response:
        return to_starlette_response(await flow.handle_callback(to_async_bolt_request(request, b"")))

    return [Route(INSTALL_PATH, install, methods=["GET"]), Route(REDIRECT_PATH, oauth_redirect, methods=["GET"])]
