"""record: what an answer cost and how it went, written with its stored turns (in the
commit's round trip): the ledger (every request is paid for: a failed, stopped or
abandoned answer's too), the token and cost metrics, the answer's log line, and the
answer's record for its buttons (Regenerate, ratings, feedback export)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Callable

from bot.answer.outcomes import Outcomes
from bot.answer.parts import Answered, Context
from bot.llm.generation import billed_tokens
from bot.llm.model import ModelClient
from bot.memory.batch import Batch
from bot.memory.conversation import StoredMessage
from bot.memory.trimming import build_request, request_tokens
from bot.observability.metrics import Metrics
from bot.quality.online import OnlineEval
from bot.quality.signals import Arm, QualityLog
from bot.slack.events import IncomingMessage
from bot.tokens import TokenCounter
from bot.usage.ledger import CallUsage, Ledger


class Record:
    def __init__(self, *, model: ModelClient, counter: TokenCounter, ledger: Ledger | None, metrics: Metrics | None,
                 outcomes: Outcomes, now: Callable[[], datetime], quality: QualityLog | None = None,
                 online: OnlineEval | None = None) -> None:
        self.quality = quality  # each answer's cost and latency, for `python -m bot report`
        self.online = online  # ONLINE_EVAL_SAMPLE_RATE: a share of answers judged after delivery
        self.model = model
        self.counter = counter
        self.ledger = ledger
        self.metrics = metrics
        self.outcomes = outcomes
        self.now = now

    def __call__(
        self, message: IncomingMessage, context: Context, kept: list[StoredMessage], answered: Answered, batch: Batch
    ) -> dict[str, Any] | None:
        """The answer's record (None when nothing was posted), its usage added to ``batch``.
        A job that ended earlier had its outcome counted where it ended."""
        if answered.usage is None:
            return None
        prompt_tokens, completion_tokens = billed_tokens(answered.usage, self.counter)
        if not prompt_tokens and not completion_tokens:
            return None  # no request reached the model (it was unavailable)
        model = answered.model or self.model.model
        usage = CallUsage(model, context.prompt_name, prompt_tokens,
                          answered.usage.usage.cached_tokens, completion_tokens)
        cost = self.ledger.record_in(batch, message.team, message.channel, message.user, usage, self.now()) \
            if self.ledger is not None else None
        if self.metrics is not None:
            self.metrics.model_call(usage.model, input_tokens=usage.input_tokens, cached_tokens=usage.cached_tokens,
                                    output_tokens=usage.output_tokens, cost=cost)
        if answered.turn is None:
            return None
        self.outcomes.count(
            message, "stopped" if answered.stopped else "answered" if answered.posted else "undelivered",
            prompt=context.prompt_name, prompt_version=context.prompt_version, variant=context.variant or None,
            model=usage.model,
            input_tokens=usage.input_tokens, cached_tokens=usage.cached_tokens, output_tokens=usage.output_tokens,
            cost_usd=cost, latency_ms=round(answered.seconds * 1000),
            first_token_ms=round(answered.first_token_seconds * 1000) if answered.first_token_seconds is not None else None,
            tool_rounds=sum(1 for turn in answered.tool_turns if turn.tool_calls))
        if not answered.posted:
            return None
        self._signals(message, context, kept, answered, Arm(context.prompt_name, context.prompt_version,
                                                            context.variant, model), cost, batch)
        return {
            "ts": answered.posted[0], "parts": answered.posted, "asker": message.user,
            "channel_type": message.channel_type, "prompt": context.prompt_name,
            "prompt_version": context.prompt_version, "variant": context.variant, "model": model,
            "context_tokens": request_tokens(kept, context.fixed_tokens), "stopped": answered.stopped,
            "generation": message.kind,
            # What the request was built from, so a training example can be rebuilt byte for byte:
            # the system prompt's variables and checksum, the closing note, and the window sent.
            "request": {"variables": dict(context.variables), "variant": context.variant, "summary": context.summary,
                        "system_sha": system_sha(context.system_prompt),
                        "note": context.note, "from_ts": kept[0].ts if kept else "", "turns": len(kept),
                        **({"knowledge": context.knowledge} if context.knowledge else {})},
        }


    def _signals(self, message: IncomingMessage, context: Context, kept: list[StoredMessage], answered: Answered,
                 arm: Arm, cost: float | None, batch: Batch) -> None:
        """The answer's quality signal (with the commit), and maybe its online evaluation (after it)."""
        key = f"{message.channel}:{answered.posted[0]}"
        if self.quality is not None:
            first = answered.first_token_seconds
            self.quality.add_in(batch, "answer", arm, answer=key, team=message.team, cost=cost,
                                latency_ms=round(answered.seconds * 1000),
                                first_token_ms=round(first * 1000) if first is not None else None)
        if self.online is not None and answered.turn is not None and not answered.stopped:
            self.online.consider(lambda: build_request(context.system_prompt, kept, context.note, context.knowledge), answered.turn.content,
                                 arm, key=key, team=message.team)


def system_sha(system_prompt: str) -> str:
    return hashlib.sha256(system_prompt.encode()).hexdigest()[:16]
