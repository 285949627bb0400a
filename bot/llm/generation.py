"""Streaming one model answer into a reply writer, and accounting for it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol, Sequence

from bot.llm.model import ModelClient, ModelError, ModelOptions, ModelReply
from bot.slack.reply import ReplyWriter
from bot.memory.tokens import TokenCounter
from bot.wording import MODEL_FAILED, MODEL_TIMED_OUT, MODEL_UNAVAILABLE


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


async def generate(
    model: ModelClient,
    messages: Sequence[dict[str, str]],
    writer: ReplyWriter,
    options: ModelOptions | None = None,
    answer: ModelReply | None = None,
    stop: StopFlag | None = None,
    started: asyncio.Future[bool] | None = None,
) -> ModelReply:
    """Stream the answer into ``writer`` as it arrives (and into ``answer``, which
    keeps the text so far if the generation is cancelled or ``stop`` is set).
    ``started``: the writer is being started beside the request; no text is shown
    before it says True (False: stop reading).  Raises ModelError."""
    answer = answer if answer is not None else ModelReply()
    async with contextlib.aclosing(model.stream(messages, answer, options)) as deltas:
        async for _ in deltas:
            if started is not None and not await asyncio.shield(started):
                break
            if stop is not None and stop.is_set():
                break
            await writer.progress(answer.text)
    return answer


def failure_sentence(error: ModelError) -> str:
    if error.kind == "unavailable":
        return MODEL_UNAVAILABLE
    return MODEL_TIMED_OUT if error.kind == "timeout" else MODEL_FAILED


def billed_tokens(answer: ModelReply, request_tokens: int, counter: TokenCounter) -> tuple[int, int]:
    """(prompt, completion) tokens: as the server reported them, else our own count."""
    prompt = answer.usage.prompt_tokens or request_tokens
    completion = answer.usage.completion_tokens or counter.count_text(answer.text)
    return prompt, completion
