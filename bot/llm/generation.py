"""Streaming one model answer into a reply writer, and accounting for it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import TYPE_CHECKING, Any, Protocol, Sequence

from bot.llm.model import ModelClient, ModelError, ModelOptions, ModelReply
from bot.llm.writer import ReplyWriter
from bot.tokens import TokenCounter
from bot.wording import MODEL_FAILED, MODEL_TIMED_OUT, MODEL_UNAVAILABLE

if TYPE_CHECKING:
    from bot.tools.rounds import ToolRounds

TEXT_BETWEEN_ROUNDS = "\n\n"


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


async def generate(
    model: ModelClient,
    messages: Sequence[dict[str, Any]],
    writer: ReplyWriter,
    options: ModelOptions | None = None,
    answer: ModelReply | None = None,
    stop: StopFlag | None = None,
    started: asyncio.Future[bool] | None = None,
    tools: "ToolRounds | None" = None,
    request_tokens: int = 0,
) -> ModelReply:
    """Stream the answer into ``writer`` as it arrives (and into ``answer``, which
    keeps the text so far if the generation is cancelled or ``stop`` is set).
    ``started``: the writer is being started beside the request; no text is shown
    before it says True (False: stop reading).

    With ``tools``, the model may ask for calls: they are run, their results sent back,
    and the model asked again, until it answers in text (after the last allowed round it
    must).  ``answer.text`` is everything shown; ``answer.usage`` adds up every request.
    A request the server began to answer but did not report usage for (it failed, was
    stopped or cancelled, or the server does not report it) is estimated into
    ``answer.unreported``: ``request_tokens`` (the first request's count) plus the tool
    turns since, and the text and calls it wrote, so every request is paid for.
    Raises ModelError."""
    answer = answer if answer is not None else ModelReply()
    options = options or ModelOptions()
    request = list(messages)
    shown = ""  # text of earlier rounds (a model may say something before it calls a tool)
    while True:
        step = ModelReply()
        if tools is not None and tools.definitions:
            options = dataclasses.replace(options, tools=tools.definitions,
                                          tool_choice=None if tools.may_call else "none")
        sent_tokens = request_tokens + (sum(turn.tokens for turn in tools.turns) if tools is not None else 0)
        try:
            async with contextlib.aclosing(model.stream(request, step, options)) as deltas:
                async for _ in deltas:
                    if started is not None and not await asyncio.shield(started):
                        break
                    if stop is not None and stop.is_set():
                        break
                    answer.text = shown + step.text
                    await writer.progress(answer.text)
        finally:
            _add_usage(answer, step, sent_tokens)
            answer.model = step.model or answer.model  # a fallback may have answered this round
        if answer.first_token_at is None:
            answer.first_token_at = step.first_token_at
        answer.text = shown + step.text
        answer.finish_reason = step.finish_reason
        calls = step.tool_calls
        if tools is None or not calls or (stop is not None and stop.is_set()):
            return answer
        if not tools.may_call or (started is not None and not await asyncio.shield(started)):
            return answer  # calls asked for after the last round allowed: the text is the answer
        request += await tools.run(step.text, calls)
        shown = answer.text + TEXT_BETWEEN_ROUNDS if answer.text.strip() else ""
        answer.answer_from = len(shown)


def _add_usage(answer: ModelReply, step: ModelReply, sent_tokens: int) -> None:
    if step.usage.prompt_tokens or step.usage.completion_tokens:
        answer.usage.prompt_tokens += step.usage.prompt_tokens
        answer.usage.completion_tokens += step.usage.completion_tokens
        answer.usage.cached_tokens += step.usage.cached_tokens
    elif step.accepted:  # the server took the request, its usage never came: our own count
        answer.unreported.prompt_tokens += sent_tokens
        answer.unreported_output += step.text + "".join(call.arguments for call in step.tool_calls)


def failure_sentence(error: ModelError) -> str:
    if error.kind == "unavailable":
        return MODEL_UNAVAILABLE
    return MODEL_TIMED_OUT if error.kind == "timeout" else MODEL_FAILED


def billed_tokens(answer: ModelReply, counter: TokenCounter) -> tuple[int, int]:
    """(prompt, completion) tokens of every request of an answer: as the server reported
    them, and our own count for the requests it did not report (see :func:`generate`)."""
    prompt = answer.usage.prompt_tokens + answer.unreported.prompt_tokens
    completion = answer.usage.completion_tokens
    if answer.unreported_output:
        completion += counter.count_text(answer.unreported_output)
    return prompt, completion
