"""Exactly once, in order, one at a time.

Slack retries deliveries and sends a channel mention twice (``app_mention`` and
``message``); several bot processes may share one Redis.  Every message is
claimed once (``SET NX`` on its conversation + ts) and queued on its
conversation in ts order, in one Redis script, so a message is never claimed
without being queued.  Whichever process holds the conversation's lock answers
the queue in order.  A process that cannot take the lock waits until its
message has been answered, and takes over if the holder dies (the lock expires).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from typing import AsyncIterator

from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

from bot.memory.conversation import ConversationId
from bot.slack.events import IncomingMessage
from bot.responder import Responder
from bot.memory.store import Acceptance, ConversationStore
from bot.tasks import BackgroundTasks
from bot.wording import STORE_FAILED

log = logging.getLogger(__name__)

RECENTLY_SEEN_LIMIT = 20_000


class Dispatcher:
    def __init__(
        self, store: ConversationStore, responder: Responder, tasks: BackgroundTasks, *, poll_interval: float = 0.2
    ) -> None:
        self.store = store
        self.responder = responder
        self.tasks = tasks
        self.poll_interval = poll_interval
        self._recently_seen: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._accept_locks: dict[ConversationId, list] = {}  # [lock, users]

    def submit(self, message: IncomingMessage) -> None:
        """Handle ``message`` in the background (the HTTP ack has already gone out)."""
        self.tasks.spawn(self.handle(message))

    async def handle(self, message: IncomingMessage) -> None:
        if self._seen_here(message):
            return  # the twin event or a retry reached this same process
        cid = message.conversation
        try:
            # Accept in arrival order: asyncio locks are FIFO, so messages of one
            # conversation reach the queue in the order this process received them.
            async with self._accepting(cid):
                outcome = await self.store.accept(message)
        except RedisError as exc:
            log.error("store unavailable while accepting a message in %s: %s", cid, type(exc).__name__)
            await self.responder.apologise(message, STORE_FAILED)
            return
        if outcome is not Acceptance.ACCEPTED:
            log.debug("not handling %s %s: %s", cid, message.job_id, outcome.name)
            return
        try:
            await self._drain(cid, message.job_id)
        except RedisError as exc:
            log.error("store unavailable while answering in %s: %s", cid, type(exc).__name__)

    @contextlib.asynccontextmanager
    async def _accepting(self, cid: ConversationId) -> AsyncIterator[None]:
        entry = self._accept_locks.setdefault(cid, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._accept_locks[cid]

    async def _drain(self, cid: ConversationId, ts: str) -> None:
        while True:
            lock = self.store.lock(cid)
            if await lock.acquire():
                try:
                    async with _kept_alive(lock):
                        while (next_message := await self.store.pop_next(cid)) is not None:
                            await self.responder.handle(next_message)
                finally:
                    await _release(lock)
                # A message queued while we released is ours to answer.
                if not await self.store.has_waiting(cid):
                    return
                continue
            if not await self.store.is_waiting(cid, ts):
                return  # the lock holder answered it
            await asyncio.sleep(self.poll_interval)

    def _seen_here(self, message: IncomingMessage) -> bool:
        key = (message.team, message.channel, message.job_id)
        if key in self._recently_seen:
            return True
        self._recently_seen[key] = None
        if len(self._recently_seen) > RECENTLY_SEEN_LIMIT:
            self._recently_seen.popitem(last=False)
        return False


@contextlib.asynccontextmanager
async def _kept_alive(lock: Lock) -> AsyncIterator[None]:
    """Renew ``lock`` while the body runs, so a long answer keeps it."""
    interval = (lock.timeout or 30) / 3

    async def renew() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await lock.reacquire()
            except (LockError, RedisError) as exc:
                log.warning("could not renew a conversation lock: %s", type(exc).__name__)

    renewer = asyncio.get_running_loop().create_task(renew())
    try:
        yield
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer


async def _release(lock: Lock) -> None:
    try:
        await lock.release()
    except (LockError, RedisError) as exc:  # expired or store gone: it frees itself
        log.warning("could not release a conversation lock: %s", type(exc).__name__)
