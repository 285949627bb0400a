"""deliver: the finished answer into its reply (Slack, a command's response_url, an eval, the
console), posted anew a little later while Slack still refuses it after the SDK's retries;
the answer's turn, as it will be stored."""

from __future__ import annotations

import asyncio
import logging
import time

from bot.answer.generate import Generated
from bot.answer.parts import Answered, BotIdentity
from bot.llm.writer import ReplyWriter
from bot.memory.conversation import StoredMessage
from bot.observability.metrics import Metrics
from bot.slack.events import IncomingMessage
from bot.slack.reply import STOPPED_MARK
from bot.tokens import TokenCounter

log = logging.getLogger(__name__)

DELIVERY_RETRY_SECONDS = (1.0, 3.0, 8.0)  # a finished answer Slack would not take is posted anew after these pauses


class Deliver:
    def __init__(self, *, counter: TokenCounter, identity: BotIdentity, metrics: Metrics | None,
                 retry_seconds: tuple[float, ...] = DELIVERY_RETRY_SECONDS) -> None:
        self.retry_seconds = retry_seconds
        self.counter = counter
        self.identity = identity
        self.metrics = metrics

    async def __call__(self, message: IncomingMessage, reply: ReplyWriter, generated: Generated) -> Answered:
        if generated.text is None:
            return Answered(None, [], usage=generated.usage, model=generated.model)
        cid, text, answer = message.conversation, generated.text, generated.usage
        final = text + STOPPED_MARK if generated.stopped else text
        posted = await reply.finish(final)
        for delay in self.retry_seconds:  # Slack still failing after the SDK's retries: post anew a little later
            if posted:
                break
            log.warning("could not deliver the answer in %s; trying again in %.0fs", cid, delay)
            await asyncio.sleep(delay)
            posted = await reply.finish(final)
        seconds = time.perf_counter() - generated.began
        first_token = max(0.0, answer.first_token_at - generated.began) if answer.first_token_at is not None else None
        if self.metrics is not None:
            self.metrics.answer_time.observe(seconds)
            if first_token is not None:
                self.metrics.first_token.observe(first_token)
        log.debug(
            "answered %s in %.2fs%s: prompt %d tokens (%d cached), completion %d tokens, %d turns kept, %d dropped",
            cid, seconds, " (stopped)" if generated.stopped else "", answer.usage.prompt_tokens,
            answer.usage.cached_tokens, answer.usage.completion_tokens, generated.kept, generated.dropped,
        )
        own = text[generated.answer_from:]  # the text before a tool round is stored with that round
        turn = StoredMessage(
            role="assistant",
            content=own,  # a stopped answer: only what was written
            tokens=self.counter.count_message(own),
            ts=posted[0] if posted else "",
            user=self.identity.user_id,
        )
        return Answered(turn, posted, generated.stopped, answer, tool_turns=generated.tool_turns,
                        seconds=seconds, first_token_seconds=first_token, model=generated.model)
