"""Exactly once, in order, one at a time, surviving crashes and restarts.

Slack retries deliveries and sends a channel mention twice (``app_mention`` and
``message``); several bot processes share one Redis and any of them may die at
any moment.  So:

- every message is claimed once and queued on its conversation, and the
  conversation is leased to the accepting process when it is free and that
  process has room (``MAX_CONCURRENT_ANSWERS``), all in one Redis script;
- the lease holder answers the queue in order; a job leaves the queue only
  when its answer is stored (atomically, and only while the lease holds);
- a lease is renewed while the answer is written; a worker that loses it stops
  at once (see ``lease.py``);
- work beyond this process's room waits on a ready list that any process takes
  from; a dead process's conversations are adopted by the next sweep of any
  other process within the lease time, and the answer its attempt left in
  Slack is replaced;
- on shutdown the process takes no new work, finishes what it can within the
  grace period and hands the rest back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from typing import Awaitable, Callable, Protocol

from redis.exceptions import RedisError

from bot.delivery.arrivals import Arrivals
from bot.delivery.flood import FloodLimit
from bot.delivery.lease import Lease
from bot.workspaces.sealing import Sealer
from bot.delivery.queue import DUPLICATE, LEASED, NOT_IN_CONVERSATION, Commit, ConversationQueue, Job, LeaseLost
from bot.delivery.run import JobRun
from bot.delivery.sweep import Sweep
from bot.delivery.workers import Workers, conversation_of, member_for
from bot.delivery.inbox import Inbox, Ticket, current_ticket
from bot.memory.batch import Batch
from bot.memory.conversation import ConversationId
from bot.memory.store import ConversationStore
from bot.slack.events import IncomingMessage
from bot.tasks import BackgroundTasks
from bot.wording import STORE_FAILED
from bot.workspaces import context as workspace_context
from bot.workspaces.context import Workspace

log = logging.getLogger(__name__)

RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


class JobHandler(Protocol):
    async def handle(self, job: IncomingMessage, run: JobRun) -> None: ...

    async def apologise(self, message: IncomingMessage, sentence: str) -> None: ...

    async def note_privately(self, message: IncomingMessage, text: str) -> None: ...


async def _release_quietly(ticket: Ticket) -> None:
    try:
        await ticket.release()
    except (RedisError, OSError) as exc:
        log.warning("could not clear an event from the inbox (%s): it may be handled again (once)", type(exc).__name__)


class Dispatcher:
    def __init__(
        self,
        store: ConversationStore,
        responder: JobHandler,
        tasks: BackgroundTasks,
        *,
        lease_seconds: float = 15.0,
        max_concurrent: int = 200,
        flood: FloodLimit | None = None,
        sweep_interval: float | None = None,
        worker_id: str | None = None,
        workspace_for: Callable[[IncomingMessage], Awaitable[Workspace | None]] | None = None,
        sealer: Sealer | None = None,
    ) -> None:
        self.store, self.responder, self.tasks, self.flood = store, responder, tasks, flood
        self.workspace_for = workspace_for  # distributed mode: the installation a job works for
        self.lease_seconds = lease_seconds
        self.max_concurrent = max_concurrent
        self.sweep_interval = sweep_interval or min(1.0, lease_seconds / 5)
        self.worker_id = worker_id or f"w{uuid.uuid4().hex[:16]}"
        lease_ms = int(lease_seconds * 1000)
        self.queue = ConversationQueue(store.redis, store.keys, conversation_ttl=store.ttl, lease_ms=lease_ms, sealer=sealer)
        self.workers = Workers(store.redis, store.keys, worker_id=self.worker_id, lease_ms=lease_ms)
        self.inbox = Inbox(store.redis, store.keys, worker_id=self.worker_id, sealer=sealer)
        self.stopping = False
        self.abandoning = False  # past the grace period: work in progress stops writing and is handed back
        self._active = 0  # conversations this process is answering now
        self._idle = asyncio.Event()
        self._idle.set()
        self.arrivals = Arrivals()
        self.sweeper = Sweep(self.workers, self.inbox, interval=self.sweep_interval, has_room=lambda: self.has_room,
                             stopping=lambda: self.stopping, take=self._take)

    # --- intake ----------------------------------------------------------------
    def submit(self, message: IncomingMessage) -> None:
        """Handle ``message`` in the background (the HTTP ack has already gone out)."""
        self.tasks.spawn(self.handle(message))

    @property
    def has_room(self) -> bool:
        return not self.stopping and self._active < self.max_concurrent

    async def handle(self, message: IncomingMessage) -> None:
        """Accept ``message``; if this process leases its conversation, answer the queue.
        The event leaves this process's inbox in the round trip that queues it."""
        ticket = current_ticket()
        workspace = workspace_context.current()
        if workspace is not None and workspace.is_enterprise_install and not message.org_install:
            # Whoever answers it (maybe another process) finds the org-wide installation by its enterprise.
            message = dataclasses.replace(message, enterprise=workspace.enterprise_id, org_install=True)
        if self.arrivals.seen(message):
            if ticket is not None:
                await _release_quietly(ticket)
            return  # the twin event or a retry reached this same process
        cid = message.conversation
        member = member_for(cid)
        try:
            # Accept in arrival order: asyncio locks are FIFO, so messages of one
            # conversation reach the queue in the order this process received them.
            async with self.arrivals.in_order(cid):
                room = self.has_room
                batch = Batch()  # one round trip: responsible for it, then claimed, queued, leased and read
                self.workers.hold_in(batch, member)
                taken = self.queue.accept_in(batch, message, self.worker_id if room else None)
                if ticket is not None:
                    ticket.release_in(batch)
                await batch.run(self.store.redis)
                acceptance = taken.acceptance()
        except (RedisError, OSError) as exc:
            log.error("store unavailable while accepting a message in %s: %s", cid, type(exc).__name__)
            await self.responder.apologise(message, STORE_FAILED)
            if ticket is not None:
                ticket.released = False  # the batch did not run: told once, so it leaves the inbox now
                await _release_quietly(ticket)
            return
        try:
            if acceptance.outcome == LEASED:
                self._occupy()
                await self._drain(cid, acceptance.token or "", member, first=acceptance.job)
            elif acceptance.outcome in (DUPLICATE, NOT_IN_CONVERSATION):
                log.debug("not handling %s %s: %s", cid, message.job_id, acceptance.outcome)
                self.workers.drop_later(member)
            elif room:
                self.workers.drop_later(member)  # queued behind the process that holds the conversation
            else:
                log.info("no room for %s here: queued for any process", cid)
                await self.workers.to_ready(member, cid)
        except (RedisError, OSError) as exc:  # our member stays: a sweep takes over if we die
            log.error("store unavailable while answering in %s: %s", cid, type(exc).__name__)

    # --- answering a leased conversation -------------------------------------
    def _occupy(self) -> None:
        """Count a conversation as being answered here (before its drain starts, so a
        sweep never takes more than there is room for); ``_drain`` gives it back."""
        self._active += 1
        self._idle.clear()

    async def _drain(self, cid: ConversationId, token: str, member: str, *, first: Job | None = None) -> None:
        """Answer ``cid``'s queue in order while the lease holds; release, hand back or leave it for a sweep.
        The caller has counted it (``_occupy``); ``first`` is the first job when the caller read it already."""
        handed_on = False
        try:
            attempt = 0
            job = first
            while token:
                try:
                    released = False
                    lease = Lease(self.queue, cid, token, seconds=self.lease_seconds)
                    async with lease.kept():
                        while not self.stopping:
                            if job is None and (job := await self.queue.next(cid, token)) is None:
                                break
                            run = JobRun(self.queue, lease, job, abandoned=lambda: self.abandoning, flood=self.flood)
                            job = None
                            await self._run(run)
                            attempt = 0
                            if run.released:  # the commit gave the lease up: nothing else waited
                                released = True
                                break
                    if released:
                        return
                    if self.stopping:
                        await self.queue.release(cid, token, hand_back=True)
                        await self.workers.to_ready(member, cid)
                        handed_on = True
                        return
                    if await self.queue.release(cid, token):
                        return
                    # more work arrived while we were finishing: the lease is still ours
                except LeaseLost:
                    if self.abandoning:  # stopped mid-answer at the end of the grace period
                        await self._hand_back(cid, token, member)
                        handed_on = True
                        return
                    log.warning("lost the lease on %s; checking whether it is still ours to answer", cid)
                    token = await self._retake(cid, token)
                except (RedisError, OSError) as exc:
                    if self.stopping:
                        raise
                    delay = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
                    attempt += 1
                    log.error("store unavailable while answering in %s (%s): retrying in %.1fs", cid, type(exc).__name__, delay)
                    await asyncio.sleep(delay)
                    token = await self._retake(cid, token)
        except asyncio.CancelledError:
            # Shutting down past the grace period: hand the conversation to another process.
            await asyncio.shield(self._hand_back(cid, token, member))
            handed_on = True
            raise
        except (RedisError, OSError) as exc:
            handed_on = True  # our member stays in Redis: a sweep adopts it once we are gone
            log.error("store unavailable: leaving %s to another process (%s)", cid, type(exc).__name__)
        finally:
            self._vacate(member, handed_on)

    def _vacate(self, member: str, handed_on: bool) -> None:
        """A conversation is no longer answered here (``_occupy``'s other half)."""
        was_full = self._active >= self.max_concurrent
        self._active -= 1
        if self._active == 0:
            self._idle.set()
        if was_full:  # work may be waiting for the room just freed: sweep now rather than within a second
            self.sweeper.room.set()
        if not handed_on:
            self.workers.drop_later(member)

    async def _retake(self, cid: ConversationId, token: str) -> str:
        """After a lost lease or a store error: our lease if still ours (or free with work waiting), else ""."""
        try:
            if await self.queue.renew(cid, token):
                return token
            return await self.queue.acquire(cid, self.worker_id) or ""
        except (RedisError, OSError):
            return token  # still unknown: try again with the same token

    async def _hand_back(self, cid: ConversationId, token: str, member: str) -> None:
        try:
            if token:
                await self.queue.release(cid, token, hand_back=True)
            await self.workers.to_ready(member, cid)
            log.info("handed %s back for another process to answer", cid)
        except (RedisError, OSError, LeaseLost) as exc:
            log.warning("could not hand %s back (%s): a sweep will adopt it", cid, type(exc).__name__)

    async def _run(self, run: JobRun) -> None:
        if self.workspace_for is None:
            await run.lease.guard(self.responder.handle(run.message, run))
        else:
            # Usually Bolt's authorize has just found this workspace for the event being handled here;
            # a job taken from Redis (another process's, or adopted) looks it up.
            current = workspace_context.current()
            workspace = current if current is not None and current.team_id == run.message.team \
                else await self.workspace_for(run.message)
            if workspace is None:
                log.warning("%s in %s not answered: the workspace has no installation", run.message.kind,
                            run.message.conversation)
            else:
                with workspace_context.working_for(workspace):
                    await run.lease.guard(self.responder.handle(run.message, run))
        if not run.committed:  # the handler ended without storing anything: the job is done all the same
            await run.commit(Commit())

    # --- the sweep: heartbeat, work waiting for room, dead processes (bot/delivery/sweep.py) ---
    async def start(self) -> None:
        """Say this process is alive, then sweep in the background."""
        await self.sweeper.start()

    async def sweep(self) -> None:
        await self.sweeper.once()

    async def _take(self, member: str, dead_worker: str) -> None:
        """Lease ``member``'s conversation (from the ready list, or from ``dead_worker``) and answer it."""
        cid = conversation_of(member)
        try:
            token = await self.queue.acquire(cid, self.worker_id, dead_worker=dead_worker)
        except (RedisError, OSError):
            # Not leased: back on the ready list for whoever has room (from our set, where
            # no sweep would look while we live), then the sweep's own retry.
            with contextlib.suppress(RedisError, OSError):
                await self.workers.to_ready(member, cid)
            raise
        if token is None:  # someone else holds it (and will see its queue), or nothing waits
            self.workers.drop_later(member)
            return
        self._occupy()
        self.tasks.spawn(self._drain(cid, token, member))

    # --- shutdown ---------------------------------------------------------------
    async def shutdown(self, deadline: float, clock: Callable[[], float] = time.monotonic) -> None:
        """Take no new work; let answers in progress finish until ``deadline`` (on
        ``clock``); the caller then cancels what is left, which hands it back."""
        self.stopping = True
        await self.sweeper.stop(deadline - clock())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), max(0.0, deadline - clock()))
        # Past the deadline: answers still running stop at their next write and are handed back
        # (a cancel alone can be lost inside a Redis call).
        self.abandoning = True

    async def leave(self) -> None:
        """The last step of a stop: leave the worker registry if nothing is left in our name."""
        try:
            await self.workers.flush_drops()
            if not await self.workers.leave():
                log.warning("stopping with conversations still in this process's name: another process adopts them")
        except (RedisError, OSError) as exc:
            log.warning("could not leave the worker registry (%s): another process adopts our work", type(exc).__name__)

