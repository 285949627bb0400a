"""Moderation (MODERATION): messages and answers checked by the OpenAI-compatible moderations
endpoint (MODERATION_MODEL).  What is sent is what the model sees: placeholders, never a
redacted value.  An endpoint that fails lets the text through (logged and counted): the
content filter is not a reason for the bot to go down."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Sequence

from openai import AsyncOpenAI, OpenAIError

log = logging.getLogger(__name__)

MODERATION_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Verdict:
    flagged: bool
    categories: tuple[str, ...] = ()
    checked: bool = True  # False: the endpoint failed and the text was let through


class Moderator:
    def __init__(self, client: AsyncOpenAI, model: str, *, mode: str, metrics: Any = None, audit: Any = None,
                 timeout: float = MODERATION_TIMEOUT_SECONDS) -> None:
        self.client = client
        self.model = model
        self.inputs = mode in ("input", "both")
        self.outputs = mode in ("output", "both")
        self.metrics = metrics
        self.audit = audit
        self.timeout = timeout

    async def check(self, texts: Sequence[str], direction: str) -> Verdict:
        """One request for ``texts``; flagged when any of them is."""
        texts = [text for text in texts if text.strip()]
        if not texts:
            return Verdict(False)
        try:
            response = await asyncio.wait_for(
                self.client.moderations.create(model=self.model, input=texts if len(texts) > 1 else texts[0]),
                self.timeout)
        except (OpenAIError, asyncio.TimeoutError) as exc:
            log.warning("the moderations endpoint failed (%s): the %s was let through", type(exc).__name__, direction)
            self._count(direction, "unchecked")
            return Verdict(False, checked=False)
        categories: set[str] = set()
        flagged = False
        for result in response.results:
            flagged = flagged or bool(result.flagged)
            if result.flagged:
                shown = result.categories.model_dump(by_alias=True) if result.categories is not None else {}
                categories.update(name for name, on in shown.items() if on)
        if flagged:
            for category in sorted(categories) or ["unspecified"]:
                self._count(direction, category)
        return Verdict(flagged, tuple(sorted(categories)))

    async def flagged(self, verdict: Verdict, direction: str, *, team: str, user: str, channel: str) -> None:
        """A flag in the audit log (its categories, never the text)."""
        if self.audit is not None:
            await self.audit.record("moderation.flagged", team=team, user=user, channel=channel, direction=direction,
                                    categories=",".join(verdict.categories) or "unspecified")

    def _count(self, direction: str, category: str) -> None:
        if self.metrics is not None:
            self.metrics.moderation_flags.labels(direction=direction, category=category).inc()
