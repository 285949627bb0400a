"""Events from Slack's HTTP deliveries, from the signed body to Bolt.

A message event that may need an answer is kept in this process's inbox in Redis before
its 200 (``bot/delivery/inbox.py``): Slack never sends an acknowledged event again.
Acked events wait in :class:`Intake` and go to Bolt in arrival order, behind the acks of
a burst; an event a stopped process had acknowledged comes back through the sweep,
signed anew, and is handled like a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any, Awaitable, Callable

from redis.exceptions import RedisError
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bot.delivery.inbox import Ticket, entering, is_durable, leaving
from bot.runtime import Runtime
from bot.slack.events import Ignored, classify

log = logging.getLogger(__name__)


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


def answerable(body: dict[str, Any], identity: Any, allow_bots: frozenset[str] = frozenset()) -> bool:
    """Whether an event may need an answer (a message Slack would not deliver again): kept
    in the inbox before its 200.  The bot's user id is the installation's (``authorizations``)
    in distributed mode; a bot's message is answered only from ``allow_bots``, never its own
    (its bot id is not in the event: its user id is)."""
    event = body.get("event")
    if not isinstance(event, dict) or not is_durable(event.get("type")):
        return False
    authorizations = body.get("authorizations")
    first = authorizations[0] if isinstance(authorizations, list) and authorizations else None
    bot_user = str(first.get("user_id") or "") if isinstance(first, dict) else ""
    try:
        return not isinstance(classify(body, bot_user or getattr(identity, "user_id", "") or "",
                                       getattr(identity, "bot_id", "") or "", allow_bots=allow_bots), Ignored)
    except (TypeError, ValueError, AttributeError, KeyError):  # a shape Bolt will refuse anyway
        return False


class EventReceiver:
    """``accept``: keep the event when it may need an answer, then its 200; Bolt handles it after."""

    def __init__(self, runtime: Runtime, verifier: SignatureVerifier) -> None:
        self.runtime = runtime
        self.verifier = verifier
        self.intake = Intake(self.dispatch, runtime.core.tasks)
        self.inbox = runtime.dispatcher.inbox
        self.inbox.on_adopted = self.adopted

    async def accept(self, request: Request, body: bytes, parsed: dict[str, Any], bolt_request: Any) -> Response:
        ticket = None
        if answerable(parsed, self.runtime.identity, self.runtime.core.settings.allowed_bots):
            try:  # a 200 means the event is safe: it is in Redis first
                ticket = await self.inbox.put(body, request.headers.get("content-type", "application/json"))
            except (RedisError, OSError) as exc:
                if not last_try(request):
                    log.error("could not keep an event (%s): answered 503 so that Slack sends it again",
                              type(exc).__name__)
                    return PlainTextResponse("Store unavailable", status_code=503)
                # Slack's last try: it will not send it again, so it is taken now; the asker is
                # told the memory is unavailable once the answer cannot be queued.
                log.error("could not keep an event on Slack's last try (%s): handling it now", type(exc).__name__)
        self.intake.add((bolt_request, ticket))
        return Response(status_code=200)

    async def dispatch(self, item: tuple[Any, Ticket | None]) -> None:
        bolt_request, ticket = item
        entered = entering(ticket)  # Bolt's listener (started inside) releases it once the message is queued
        try:
            response = await self.runtime.bolt_app.async_dispatch(bolt_request)
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

    def adopted(self, ticket: Ticket, body: bytes, content_type: str) -> None:
        """An event a stopped process acknowledged: signed again now (it was checked when it
        arrived; Slack's signature is good for five minutes) and handled like a new one."""
        timestamp = str(int(time.time()))
        headers = {"content-type": content_type, "x-slack-request-timestamp": timestamp,
                   "x-slack-signature": self.verifier.generate_signature(timestamp=timestamp, body=body.decode())}
        self.intake.add((AsyncBoltRequest(body=body.decode(), headers=headers), ticket))
