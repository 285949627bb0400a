"""One job being done under a lease: what the responder may write, and how."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Sequence

from redis.exceptions import RedisError

from bot.delivery.lease import Lease
from bot.delivery.queue import Commit, ConversationQueue, Job, LeaseLost
from bot.slack.events import IncomingMessage

log = logging.getLogger(__name__)

COMMIT_BACKOFF_SECONDS = (0.1, 0.3, 1.0, 2.0)


class JobRun:
    def __init__(
        self, queue: ConversationQueue, lease: Lease, job: Job, *, clock: Callable[[], float] = time.time,
        abandoned: Callable[[], bool] = lambda: False,
    ) -> None:
        self.queue = queue
        self.abandoned = abandoned
        self.lease = lease
        self.job = job
        self.clock = clock
        self.committed = False

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

    async def shown(self, posted: Sequence[str]) -> None:
        """Remember what this attempt has shown so far; a failure here must not stop the answer."""
        try:
            await self.queue.record_partial(self.lease.cid, self.lease.token, self.message.job_id, [*self.partials, *posted])
        except (RedisError, OSError, LeaseLost) as exc:
            log.warning("could not record the messages shown for %s: %s", self.lease.cid, type(exc).__name__)

    async def commit(self, commit: Commit) -> None:
        """Write the job's turns and remove it from the queue, in one step; retried
        while Redis is away and the lease still holds.  Raises LeaseLost."""
        attempt = 0
        while True:
            if not self.may_write():
                raise LeaseLost(str(self.lease.cid))
            try:
                await self.queue.commit(self.lease.cid, self.lease.token, self.message.job_id, commit, now=self.clock())
                self.committed = True
                return
            except (RedisError, OSError) as exc:
                delay = COMMIT_BACKOFF_SECONDS[min(attempt, len(COMMIT_BACKOFF_SECONDS) - 1)]
                log.warning("could not store %s yet (%s): retrying in %.1fs", self.lease.cid, type(exc).__name__, delay)
                attempt += 1
                await asyncio.sleep(delay)
