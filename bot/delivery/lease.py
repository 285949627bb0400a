"""This process's lease on one conversation, kept alive while it works.

The lease is renewed every third of its length.  It counts as lost as soon as
a renewal finds another holder, or when the time it was last known valid runs
out (Redis unreachable, the event loop stalled): the work running under it is
then cancelled before it can write again, and the fencing check in every
store write refuses whatever might still slip through.

The renewal task ends when told to (an event), never by a cancel it could
swallow, so nothing stays locked after the work is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, AsyncIterator, Awaitable, TypeVar

from redis.exceptions import RedisError

from bot.delivery.queue import ConversationQueue, LeaseLost
from bot.memory.conversation import ConversationId

log = logging.getLogger(__name__)

T = TypeVar("T")
SAFETY_SECONDS = 0.2  # stop this much before the lease could lapse in Redis


class Lease:
    def __init__(self, queue: ConversationQueue, cid: ConversationId, token: str, *, seconds: float) -> None:
        self.queue = queue
        self.cid = cid
        self.token = token
        self.seconds = seconds
        self.lost = asyncio.Event()
        self._done = asyncio.Event()
        # Held around every renewal and around the commit that may release the lease: a
        # renewal still on its way after a release would lease the conversation again.
        self.io = asyncio.Lock()
        self._loop = asyncio.get_running_loop()
        self._valid_until = self._loop.time() + seconds - SAFETY_SECONDS
        self._timer: asyncio.TimerHandle | None = None
        self._arm()

    @property
    def valid(self) -> bool:
        return not self.lost.is_set() and self._loop.time() < self._valid_until

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(self._valid_until, self._lapse)

    def _lapse(self) -> None:
        if not self.lost.is_set():
            log.warning("lease on %s lapsed before it could be renewed", self.cid)
            self.lost.set()

    async def _renew_until_done(self) -> None:
        interval = self.seconds / 3
        while not self._done.is_set() and not self.lost.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._done.wait(), interval)
            if self._done.is_set():
                return
            async with self.io:
                if self._done.is_set():
                    return
                asked = self._loop.time()
                try:
                    kept = await self.queue.renew(self.cid, self.token)
                except (RedisError, OSError) as exc:
                    log.warning("could not renew the lease on %s: %s", self.cid, type(exc).__name__)
                    continue  # the timer ends the lease if this goes on
            if not kept:
                log.warning("lease on %s was taken over: stopping work on it", self.cid)
                self.lost.set()
                return
            self._valid_until = asked + self.seconds - SAFETY_SECONDS
            self._arm()

    def released(self) -> None:
        """The lease was given up (by a commit, with ``io`` held): renew it no more."""
        self._done.set()
        if self._timer is not None:
            self._timer.cancel()

    @contextlib.asynccontextmanager
    async def kept(self) -> AsyncIterator["Lease"]:
        """Renew the lease while the body runs."""
        self.renewer = renewer = self._loop.create_task(self._renew_until_done())
        try:
            yield self
        finally:
            self._done.set()
            if self._timer is not None:
                self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):  # it ends on the event (or was killed)
                await asyncio.shield(renewer)  # shielded so a cancel here cannot orphan it

    async def guard(self, work: Awaitable[T]) -> T:
        """Run ``work``; cancel it and raise LeaseLost the moment the lease is lost."""
        if not self.valid:
            raise LeaseLost(str(self.cid))
        task: asyncio.Future[Any] = asyncio.ensure_future(work)
        lost = self._loop.create_task(self.lost.wait())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
            lost.cancel()
        if task.cancelled():
            raise LeaseLost(str(self.cid))
        return task.result()
