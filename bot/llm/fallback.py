"""Fallback models (FALLBACK_MODELS): when the model asked for is unavailable (its circuit
breaker is open) or refuses a request with 429, a 5xx or a failed connection before anything
was written, the next model in the list answers the same request.  People see nothing of it;
the reply records which model answered, so the ledger and the metrics say so."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, AsyncIterator, Sequence

from bot.llm.errors import ModelError

log = logging.getLogger(__name__)


def taken_over(kind: str) -> bool:
    """Whether a failure before any text lets the next model answer instead."""
    return kind in ("unavailable", "connection", "http 429") or kind.startswith("http 5")


def candidates(client: Any, asked: str) -> list[str]:
    return [asked, *(name for name in client.fallbacks if name != asked)]


async def with_fallbacks(client: Any, messages: Sequence[dict[str, Any]], reply: Any, options: Any) -> AsyncIterator[str]:
    """The asked model's deltas (``client``: a bot.llm.model.ModelClient), or the first fallback's
    that can answer.  Raises the last ModelError."""
    names = candidates(client, options.model or client.model)
    for n, name in enumerate(names):
        last = n == len(names) - 1
        wrote = False
        try:
            async for delta in client.attempt(messages, reply, dataclasses.replace(options, model=name)):
                wrote = True
                yield delta
            reply.model = name
            return
        except ModelError as exc:
            if wrote or last or reply.calls or not taken_over(exc.kind):
                reply.model = name
                raise
            log.warning("model %s failed (%s) before answering: %s answers instead", name, exc.kind, names[n + 1])
            if client.on_fallback is not None:
                client.on_fallback(name, names[n + 1], exc.kind)
            reply.text, reply.finish_reason, reply.accepted, reply.first_token_at = "", None, False, None
