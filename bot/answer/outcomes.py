"""Every job's outcome, counted (metrics) and logged as the answer's one structured line
(its text never): answered, stopped, flooded, over quota, a model error..."""

from __future__ import annotations

import logging
from typing import Any

from bot.observability.logs import ANSWER_FIELD
from bot.observability.metrics import Metrics, surface_of
from bot.slack.events import IncomingMessage

log = logging.getLogger(__name__)


class Outcomes:
    def __init__(self, metrics: Metrics | None) -> None:
        self.metrics = metrics

    def count(self, message: IncomingMessage, outcome: str, **fields: Any) -> None:
        surface = surface_of(message)
        if self.metrics is not None:
            self.metrics.answered(surface, outcome)
        figures = ""
        if "input_tokens" in fields:
            cost = fields.get("cost_usd")
            figures = (f" in {fields['latency_ms'] / 1000:.2f}s, {fields['input_tokens']:,} tokens in "
                       f"({fields['cached_tokens']:,} cached), {fields['output_tokens']:,} out"
                       + (f", ${cost:.5f}" if cost is not None else ", unpriced"))
        log.info("%s %s in %s: %s%s", message.kind, message.job_id, message.conversation, outcome, figures,
                 extra={ANSWER_FIELD: {
            "conversation": str(message.conversation), "job": message.job_id, "kind": message.kind, "surface": surface,
            "user": message.user, "outcome": outcome, **fields}})
