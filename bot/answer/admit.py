"""admit: whether a job may cost a model request, in one Redis round trip before any file
is downloaded or the model asked: the sender's flood limit, their quotas, and the reply's
budget steps (the "may post" mark).  A refused job's sender is told privately."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Awaitable, Callable

from bot.answer.outcomes import Outcomes
from bot.answer.parts import release
from bot.delivery.flood import FloodVerdict
from bot.llm.writer import ReplyWriter
from bot.memory.batch import Batch
from bot.memory.store import ConversationStore
from bot.observability.metrics import Metrics
from bot.slack.events import IncomingMessage
from bot.usage.ledger import Ledger
from bot.usage.quotas import QuotaLimits, refusal
from bot.wording import FLOODED

log = logging.getLogger(__name__)

# Adds a job's flood count to a round trip; returns how to read the verdict once it ran (None: not counted).
AdmissionIn = Callable[[Batch], Callable[[], "FloodVerdict | None"]]


class Admit:
    def __init__(self, *, store: ConversationStore, ledger: Ledger | None, quotas: QuotaLimits, now: Callable[[], datetime],
                 note: Callable[[IncomingMessage, str], Awaitable[None]], outcomes: Outcomes, metrics: Metrics | None) -> None:
        self.store = store
        self.ledger = ledger
        self.quotas = quotas
        self.now = now
        self.note = note
        self.outcomes = outcomes
        self.metrics = metrics

    async def __call__(self, message: IncomingMessage, reply: ReplyWriter, admission_in: AdmissionIn,
                       tell: Callable[[str], Awaitable[None]] | None = None, quotas: QuotaLimits | None = None) -> bool:
        """Whether the job may go on.  ``admission_in`` adds the flood count (and a job's "may
        post" mark) to the round trip; ``tell``: how the asker hears a refusal when they are
        waiting on ``reply`` itself (a command), else a private note (the first flooded message
        of a minute only: the rest are dropped quietly); ``quotas``: the limits where the
        channel sets its own (default: the deployment's)."""
        limits = quotas or self.quotas
        batch = Batch()
        flood_verdict = admission_in(batch)
        spent = self.ledger.spent_in(batch, message.team, message.channel, message.user, self.now()) \
            if self.ledger is not None and limits.any else None
        prepare = getattr(reply, "prepare", None)
        if prepare is not None:
            prepare(batch)
        await batch.run(self.store.redis)
        verdict = flood_verdict()
        if verdict is not None and verdict.over:
            log.info("%s: not answering %s from %s", "bot turn limit" if verdict.limit == "bot_turns" else "flood limit",
                     message.job_id, message.user)
            if tell is not None:
                await tell(FLOODED)
            elif verdict.first_over:
                await self.note(message, FLOODED)
            await release(reply)
            self.outcomes.count(message, verdict.limit)
            return False
        over = refusal(spent(), limits, message.user, self.now()) if spent is not None else None
        if over is not None:
            log.info("quota %s: not answering %s from %s", over.limit, message.job_id, message.user)
            self.outcomes.count(message, "over_quota")
            if self.metrics is not None:
                self.metrics.quota_refusals.labels(over.limit).inc()
            await (tell(over.sentence) if tell is not None else self.note(message, over.sentence))
            await release(reply)
            return False
        return True
