"""One job being done under a lease: what the responder may write, and how."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Sequence

from redis.exceptions import ConnectionError, RedisError, TimeoutError

from bot.delivery.flood import FloodLimit, FloodVerdict
from bot.delivery.lease import Lease
from bot.delivery.queue import Commit, ConversationQueue, Job, LeaseLost
from bot.memory.batch import Batch
from bot.slack.answer_messages import POSTING
from bot.slack.events import IncomingMessage

log = logging.getLogger(__name__)

COMMIT_BACKOFF_SECONDS = (0.1, 0.3, 1.0, 2.0)


class JobRun:
    def __init__(
        self, queue: ConversationQueue, lease: Lease, job: Job, *, clock: Callable[[], float] = time.time,
        abandoned: Callable[[], bool] = lambda: False, flood: FloodLimit | None = None,
    ) -> None:
        self.flood = flood
        self.queue = queue
        self.abandoned = abandoned
        self.lease = lease
        self.job = job
        self.clock = clock
        self.committed = False
        self.released = False  # the commit gave the lease up too (nothing else waited)
        self._recorded: list[str] = []

    @property
    def message(self) -> IncomingMessage:
        return self.job.message

    @property
    def partials(self) -> tuple[str, ...]:
        """Messages an earlier attempt at this job left in Slack (to be replaced)."""
        return self.job.partials

    def may_write(self) -> bool:
        """Whether this attempt may still write (to Slack or the store): its lease holds
        and the process is not past its shutdown grace period."""
        return self.lease.valid and not self.abandoned()

    def _record(self, posted: Sequence[str]) -> list[str]:
        """What is kept of the messages shown: every known ts, and POSTING while the job is
        in progress (a post whose ts was not noted yet is found by reading the thread)."""
        known = dict.fromkeys(ts for ts in (*self.partials, *posted) if ts != POSTING)
        return [*known, POSTING]

    def note_posting_in(self, batch: Batch) -> None:
        """Add to ``batch``: say this attempt may post from now on (before anything is posted)."""
        record = self._record(())
        self.queue.record_partial_in(batch, self.lease.cid, self.lease.token, self.message.job_id, record)
        self._recorded = record

    def admission_in(self, batch: Batch) -> Callable[[], FloodVerdict | None]:
        """Add to ``batch`` what must be written before the answer shows anything: the
        "may post" mark and the sender's flood count (a new message, an edit answered again
        and a regeneration each count once, by their job id; another bot's message also
        counts against its thread's bot turns).  Returns how to read the flood
        verdict once the batch has run (None: not counted)."""
        self.note_posting_in(batch)
        message = self.message
        if self.flood is None or self.partials:
            return lambda: None
        return self.flood.message_counted_in(batch, message)

    async def shown(self, posted: Sequence[str]) -> None:
        """Remember what this attempt has shown so far; a failure here must not stop the answer."""
        record = self._record(posted)
        if record == self._recorded:
            return
        try:
            await self.queue.record_partial(self.lease.cid, self.lease.token, self.message.job_id, record)
            self._recorded = record
        except (RedisError, OSError, LeaseLost) as exc:
            log.warning("could not record the messages shown for %s: %s", self.lease.cid, type(exc).__name__)

    async def commit(self, commit: Commit, batch: Batch | None = None) -> None:
        """Write the job's turns and remove it from the queue, in one step, with whatever
        else ``batch`` holds (records and counters written in the same round trip);
        retried while Redis is away and the lease still holds.  Raises LeaseLost."""
        attempt = 0
        while True:
            async with self.lease.io:
                if not self.may_write():
                    raise LeaseLost(str(self.lease.cid))
                work = batch if batch is not None else Batch()
                others = work.replies()
                reply = self.queue.commit_in(work, self.lease.cid, self.lease.token, self.message.job_id, commit, now=self.clock())
                try:
                    await work.run(self.queue.redis)
                except (RedisError, OSError) as exc:
                    error: BaseException = exc  # the trip failed: nothing is known to be written
                else:
                    failed = [part for part in others if part.failed]
                    if failed:
                        log.error("stored %s, but writing %d of its records failed", self.lease.cid, len(failed))
                    if reply.failed and not isinstance(reply.value, (ConnectionError, TimeoutError, OSError)):
                        reply.get()  # Redis refused the commit itself: a bug, not an outage
                    if not reply.failed:
                        self.released = self.queue.committed(reply, self.lease.cid) and commit.release
                        if self.released:
                            self.lease.released()
                        self.committed = True
                        return
                    error = reply.value
            delay = COMMIT_BACKOFF_SECONDS[min(attempt, len(COMMIT_BACKOFF_SECONDS) - 1)]
            log.warning("could not store %s yet (%s): retrying in %.1fs", self.lease.cid, type(error).__name__, delay)
            attempt += 1
            batch = None  # the rest was sent once: only the commit is retried
            await asyncio.sleep(delay)
