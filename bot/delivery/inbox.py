"""A 200 to Slack means the event is already in Redis.

Slack never delivers an acknowledged event again, so a message event is written to this
process's inbox (one list per worker, beside its heartbeat and conversations in the
``{delivery}`` slot) before its 200 goes out: one ``RPUSH``.  It leaves the inbox in the
same round trip that claims and queues the message (or once it is known to need no
answer).  A process that dies with events in its inbox (kill -9, out of memory) is found
by another's sweep, within ``LEASE_SECONDS``, like the conversations it held: the
survivor moves each event to its own inbox and handles it again; the claims answer each
message once however often it is handled.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

import redis.asyncio as aioredis

from bot.delivery.inbox_writer import BlockingWriter
from bot.memory.batch import Batch
from bot.memory.conversation import Keys, as_text
from bot.delivery.keys import delivery_key
from bot.workspaces.sealing import Sealer, opened_with, sealed_with

log = logging.getLogger(__name__)

INBOX_TTL_SECONDS = 24 * 3600  # an inbox nobody adopts (every process gone) still goes
DURABLE_EVENTS = frozenset({"app_mention", "message"})  # the events that become answers

# KEYS: the dead worker's inbox, this worker's; ARGV: the entry, ttl
ADOPT_ENTRY_SCRIPT = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""


@dataclass
class Ticket:
    """One inboxed event being handled: released once, when its message is queued or it needs nothing."""

    inbox: "Inbox"
    entry: str
    released: bool = field(default=False)

    def release_in(self, batch: Batch) -> None:
        if not self.released:
            self.released = True
            batch.command("LREM", self.inbox.key(), 1, self.entry)

    async def release(self) -> None:
        if not self.released:
            self.released = True
            await self.inbox.redis.lrem(self.inbox.key(), 1, self.entry)


_ticket: contextvars.ContextVar[Ticket | None] = contextvars.ContextVar("inbox_ticket", default=None)


def current_ticket() -> Ticket | None:
    """The inboxed event the running work handles (it follows the work into Bolt's listener tasks)."""
    return _ticket.get()


def entering(ticket: Ticket | None) -> contextvars.Token[Ticket | None]:
    return _ticket.set(ticket)


def leaving(token: contextvars.Token[Ticket | None]) -> None:
    _ticket.reset(token)


def is_durable(event_type: object) -> bool:
    return isinstance(event_type, str) and event_type in DURABLE_EVENTS


class Inbox:
    def __init__(self, redis: aioredis.Redis, keys: Keys, *, worker_id: str, sealer: Sealer | None = None) -> None:
        self.sealer = sealer  # REDACTION_KEY: the event's body is kept encrypted
        self.redis = redis
        self.keys = keys
        self.worker_id = worker_id
        self.on_adopted: Callable[[Ticket, bytes, str], None] | None = None  # the web app handles adopted events
        self.writer: BlockingWriter | None = None
        self._waiting: list[tuple[str, asyncio.Future[None]]] = []
        self._writer: asyncio.Future[None] | None = None
        self._adopt = redis.register_script(ADOPT_ENTRY_SCRIPT)

    def key(self, worker: str | None = None) -> str:
        return delivery_key(self.keys, f"inbox:{worker or self.worker_id}")

    async def put(self, body: bytes, content_type: str) -> Ticket:
        """Keep the event (its signed body) before it is acknowledged.  Raises RedisError.

        With a blocking ``writer`` (bot/delivery/inbox_writer.py) the write is made at once;
        otherwise (the embedded store, or the blocking write failed) on the pooled client, with
        its retries, by group commit: the events that arrive while one write is on its way go
        together in the next."""
        entry = json.dumps({"id": uuid.uuid4().hex, "at": round(time.time(), 3), "type": content_type,
                            "body": sealed_with(self.sealer, body.decode("utf-8", "replace"))}, separators=(",", ":"))
        if self.writer is not None and self.writer.push(self.key(), entry):  # blocking: waits for nothing but Redis
            return Ticket(self, entry)
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((entry, written))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_waiting())
        await written
        return Ticket(self, entry)

    async def _write_waiting(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.rpush(self.key(), *(entry for entry, _ in group))
                    pipe.expire(self.key(), INBOX_TTL_SECONDS)
                    await pipe.execute()
            except BaseException as exc:  # each waiting request answers 503 (or, cancelled, nothing)
                for _, written in group:
                    if not written.done():
                        written.set_exception(exc if isinstance(exc, Exception) else ConnectionError("cancelled"))
                if not isinstance(exc, Exception):
                    raise
                continue
            for _, written in group:
                if not written.done():
                    written.set_result(None)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def adopt(self, dead_worker: str) -> int:
        """Move a dead worker's events to this inbox, each handled again; how many.  A process
        without HTTP intake (Socket Mode) leaves them to one that has it."""
        if self.on_adopted is None:
            return 0
        adopted = 0
        for raw in await self.redis.lrange(self.key(dead_worker), 0, -1):
            entry = as_text(raw)
            if not await self._adopt(keys=[self.key(dead_worker), self.key()], args=[entry, INBOX_TTL_SECONDS]):
                continue  # another process took it
            adopted += 1
            try:
                data = json.loads(entry)
                body = opened_with(self.sealer, str(data["body"])).encode()
                content_type = str(data.get("type") or "application/json")
            except (ValueError, KeyError, TypeError):
                body = b""
            if not body:  # unreadable, or sealed with a REDACTION_KEY no longer set
                await self.redis.lrem(self.key(), 1, entry)
                continue
            self.on_adopted(Ticket(self, entry), body, content_type)
        if adopted:
            log.warning("handling %d event(s) that stopped process %s had acknowledged", adopted, dead_worker)
        return adopted
