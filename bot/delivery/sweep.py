"""The sweep, about once a second and whenever room frees up: say this process is alive
(and forget the work it finished), take work waiting on the ready list while there is room,
and adopt what dead processes left: the events they acknowledged (their inboxes) and the
conversations they held."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Awaitable, Callable

from redis.exceptions import RedisError

from bot.delivery.inbox import Inbox
from bot.delivery.workers import Workers, conversation_of

log = logging.getLogger(__name__)


class Sweep:
    def __init__(self, workers: Workers, inbox: Inbox, *, interval: float, has_room: Callable[[], bool],
                 stopping: Callable[[], bool], take: Callable[[str, str], Awaitable[None]]) -> None:
        """``take(member, dead_worker)``: lease a conversation from the ready list ("") or a dead process and answer it."""
        self.workers = workers
        self.inbox = inbox
        self.interval = interval
        self.has_room = has_room
        self.stopping = stopping
        self.take = take
        self.room = asyncio.Event()  # set: sweep now (room was freed, or stopping)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Say this process is alive, then sweep in the background.  Before any work is
        taken: a process that dies holding work must already be known, or nobody would adopt it."""
        await self.workers.heartbeat()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._forever())

    async def _forever(self) -> None:
        while not self.stopping():
            try:
                await self.once()
            except (RedisError, OSError) as exc:
                log.warning("delivery sweep skipped: %s", type(exc).__name__)
            except Exception:
                log.exception("delivery sweep failed")
            self.room.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.room.wait(), self.interval)

    async def once(self) -> None:
        """One pass: say we are alive (and forget finished work), take waiting work while
        there is room, adopt the dead's work."""
        await self.workers.heartbeat()  # also forgets the work finished since the last one
        while self.has_room():
            member = await self.workers.take_ready()
            if member is None:
                break
            await self.take(member, "")
        for dead in await self.workers.dead():
            await self.inbox.adopt(dead)  # events it acknowledged but had not queued: handled again here
            for member in await self.workers.held_by(dead):
                if self.has_room():
                    adopted = await self.workers.adopt(dead, member)
                    if adopted is not None:
                        log.warning("adopting %s from stopped process %s", conversation_of(member), dead)
                        await self.take(adopted, dead)
                else:
                    await self.workers.to_ready(member, conversation_of(member), from_worker=dead)
            await self.workers.bury(dead)

    async def stop(self, timeout: float) -> None:
        """Wake the sweep so it sees it should stop, and wait for it (at most ``timeout``)."""
        self.room.set()
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=max(0.0, timeout))
