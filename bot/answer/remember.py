"""remember: memory past the window.  When trimming drops turns, ``SUMMARY_MODEL`` merges them
into the conversation's running summary (one request per trim), which is kept with the
conversation and placed at the end of the system prompt; between trims it does not change, so
the system prompt, the summary and the history after it stay the prefix the provider caches.
The request always leaves room for a summary of ``SUMMARY_MAX_TOKENS``, so making one never
pushes more turns out.  If the summary cannot be made, the answer goes on with the last one."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import Callable, Sequence

from bot.answer.parts import Budget, Context
from bot.llm.model import ModelClient, ModelError, ModelOptions, ModelReply
from bot.memory.batch import Batch
from bot.memory.conversation import Keys, StoredMessage
from bot.memory.trimming import plan_window
from bot.slack.events import IncomingMessage
from bot.tokens import TokenCounter
from bot.usage.ledger import CallUsage, Ledger

log = logging.getLogger(__name__)

SUMMARY_FIELD = "summary"  # the conversation meta hash's field
SUMMARY_HEADING = "\n\n## Earlier in this conversation\nA summary of the messages before the ones below:\n"
SUMMARY_LEDGER_PROMPT = "memory-summary"
SUMMARY_INSTRUCTIONS = (
    "You keep the running summary of a Slack conversation for an assistant that only sees its latest messages. "
    "Merge the summary so far with the messages leaving its view. Keep facts, names, numbers, dates, decisions, "
    "open questions and anything someone asked to be remembered, with who said it; drop greetings and chatter. "
    "Keep placeholders such as [email 1] as they are. Write at most {words} words, as short bullet points, "
    "with no preamble.")


def summary_size(max_tokens: int, context_tokens: int) -> int:
    """The summary's own limit: SUMMARY_MAX_TOKENS, at most an eighth of the context budget."""
    return min(max_tokens, context_tokens // 8) if max_tokens > 0 else 0


def summary_room(max_tokens: int, context_tokens: int) -> int:
    """Tokens every request keeps for the summary and its heading (0: summaries are off)."""
    size = summary_size(max_tokens, context_tokens)
    return size + 32 if size > 0 else 0


def with_summary(system_prompt: str, summary: str) -> str:
    return system_prompt + SUMMARY_HEADING + summary if summary else system_prompt


class Remember:
    def __init__(self, *, model: ModelClient, counter: TokenCounter, budget: Budget, max_tokens: int, keys: Keys,
                 summary_model: str | None = None, ledger: Ledger | None = None,
                 now: Callable[[], datetime] | None = None) -> None:
        self.model, self.counter, self.budget = model, counter, budget
        self.max_tokens = summary_size(max_tokens, budget.max_context_tokens)
        self.keys, self.summary_model, self.ledger, self.now = keys, summary_model, ledger, now

    async def __call__(self, message: IncomingMessage, context: Context, window: Sequence[StoredMessage]
                       ) -> tuple[Context, int]:
        """The context (with a new summary when turns are dropped) and how many turns to drop."""
        drop = plan_window(window, context.fixed_tokens, self.budget.max_context_tokens, self.budget.trim_target_ratio)
        if not drop or self.max_tokens <= 0:
            return context, drop
        model = self.summary_model or context.model or self.model.model
        reply = ModelReply()
        try:
            async for _ in self.model.stream(self._request(context.summary, window[:drop]), reply,
                                             ModelOptions(model=model, temperature=0, max_output_tokens=self.max_tokens)):
                pass
        except ModelError as exc:
            log.warning("no summary of %d turns dropped from %s (%s): the last one stays", drop, message.conversation,
                        exc.kind)
            return context, drop
        summary = self.counter.shorten(reply.text.strip(), self.max_tokens, marker="…")
        system = with_summary(context.system_prompt.removesuffix(SUMMARY_HEADING + context.summary), summary)
        usage = CallUsage(reply.model or model, SUMMARY_LEDGER_PROMPT, reply.usage.prompt_tokens,
                          reply.usage.cached_tokens, reply.usage.completion_tokens or self.counter.count_text(summary))
        log.info("summarised %d dropped turns of %s", drop, message.conversation)
        return dataclasses.replace(context, system_prompt=system, summary=summary, summary_usage=usage), drop

    def into(self, batch: Batch, message: IncomingMessage, context: Context) -> None:
        """A new summary kept with the commit (and its request in the ledger, as the asker's)."""
        if context.summary_usage is None:
            return
        batch.command("HSET", self.keys.meta(message.conversation), SUMMARY_FIELD, context.summary)
        if self.ledger is not None and self.now is not None:
            self.ledger.record_in(batch, message.team, message.channel, message.user, context.summary_usage, self.now())

    def _request(self, summary: str, dropped: Sequence[StoredMessage]) -> list[dict[str, str]]:
        lines = [f"{turn.role}: {turn.content}" for turn in dropped if turn.content and turn.role in ("user", "assistant")]
        cap = max(1000, self.budget.max_context_tokens // 2)
        transcript = self.counter.shorten("\n\n".join(lines), cap)
        words = max(50, self.max_tokens * 3 // 4)
        return [{"role": "system", "content": SUMMARY_INSTRUCTIONS.format(words=words)},
                {"role": "user", "content": f"The summary so far:\n{summary or '(none yet)'}\n\n"
                                            f"The messages leaving the assistant's view:\n{transcript}"}]
