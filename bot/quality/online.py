"""Online evaluation: a share of live answers (ONLINE_EVAL_SAMPLE_RATE) judged after delivery,
off the answer's path, by JUDGE_MODEL with the same judge prompt and verdict as `bot eval`'s
judge check, against the prompt's rubric.  The score (1 for PASS, 0 for FAIL) goes to the
metrics, the quality log (for `python -m bot report`) and, with the judge's cost under the
prompt name ``online-eval`` (never a person's or a channel's quota), to the ledger."""

from __future__ import annotations

import logging
import random
from datetime import datetime
from typing import Any, Callable, Sequence

from redis.exceptions import RedisError

from bot.evals.checks import JUDGE_PROMPT, parse_judgement
from bot.llm.model import ModelClient, ModelError, ModelOptions, ModelReply
from bot.memory.batch import Batch
from bot.prompts import parse_prompt
from bot.quality.rubrics import Rubrics
from bot.quality.signals import Arm, QualityLog
from bot.tasks import BackgroundTasks
from bot.tokens import TokenCounter
from bot.usage.ledger import CallUsage, Ledger

log = logging.getLogger(__name__)

JUDGE_LEDGER_PROMPT = "online-eval"
MAX_PENDING = 4  # judgements running at once per process; a sample beyond is skipped, not queued


class OnlineEval:
    def __init__(self, *, model: ModelClient, counter: TokenCounter, judge_model: str, rubrics: Rubrics, rate: float,
                 quality: QualityLog, tasks: BackgroundTasks, redis: Any, now: Callable[[], datetime],
                 ledger: Ledger | None = None, metrics: Any = None, draw: Callable[[], float] = random.random,
                 max_pending: int = MAX_PENDING) -> None:
        self.model, self.counter, self.judge_model, self.rubrics = model, counter, judge_model, rubrics
        self.rate, self.quality, self.tasks, self.redis, self.now = rate, quality, tasks, redis, now
        self.ledger, self.metrics, self.draw, self.max_pending = ledger, metrics, draw, max_pending
        self.judge = parse_prompt(JUDGE_PROMPT.read_text(encoding="utf-8"), JUDGE_PROMPT,
                                  frozenset({"rubric", "conversation", "answer"}))
        self.pending = 0

    def consider(self, request: Callable[[], Sequence[dict[str, Any]]], answer: str, arm: Arm, *, key: str,
                 team: str) -> bool:
        """Judge this answer in the background if it is drawn (``request``: the request it answered,
        built only then); whether it was."""
        if self.rate <= 0 or self.draw() >= self.rate:
            return False
        rubric = self.rubrics.for_prompt(arm.prompt)
        if rubric is None or self.pending >= self.max_pending:
            log.info("online evaluation of %s skipped: %s", key, "no rubric" if rubric is None else "judge busy")
            return False
        self.pending += 1
        self.tasks.spawn(self._judged(request(), answer, arm, key, team, rubric.text, rubric.version))
        return True

    async def _judged(self, request: Sequence[dict[str, Any]], answer: str, arm: Arm, key: str, team: str,
                      rubric: str, rubric_version: int) -> None:
        try:
            conversation = "\n\n".join(f"{m['role']}: {m['content']}" for m in request
                                       if m["role"] != "system" and isinstance(m.get("content"), str))
            text = self.judge.render({"rubric": rubric, "conversation": conversation, "answer": answer})
            reply = ModelReply()
            options = ModelOptions(model=self.judge_model, temperature=self.judge.header.temperature,
                                   max_output_tokens=self.judge.header.max_output_tokens)
            async for _ in self.model.stream([{"role": "user", "content": text}], reply, options):
                pass
            score = 1.0 if parse_judgement(reply.text).passed else 0.0
            await self._kept(arm, key, team, score, reply, rubric_version)
        except ModelError as exc:
            log.warning("online evaluation of %s: the judge failed (%s)", key, exc.kind)
        except (RedisError, OSError) as exc:
            log.warning("online evaluation of %s not kept: %s", key, type(exc).__name__)
        finally:
            self.pending -= 1

    async def _kept(self, arm: Arm, key: str, team: str, score: float, reply: ModelReply, rubric_version: int) -> None:
        usage = reply.usage
        output_tokens = usage.completion_tokens or self.counter.count_text(reply.text)
        batch = Batch()
        cost = self.ledger.record_in(batch, team, "", "", CallUsage(self.judge_model, JUDGE_LEDGER_PROMPT,
                                     usage.prompt_tokens, usage.cached_tokens, output_tokens), self.now()) \
            if self.ledger is not None else None
        self.quality.add_in(batch, "score", arm, answer=key, team=team, score=score, judge_cost=cost,
                            rubric_version=rubric_version)
        await batch.run(self.redis)
        if self.metrics is not None:
            self.metrics.online_eval_score.labels(arm.prompt, str(arm.version), arm.variant, arm.model).observe(score)
            self.metrics.model_call(self.judge_model, input_tokens=usage.prompt_tokens, cached_tokens=usage.cached_tokens,
                                    output_tokens=output_tokens, cost=cost)
        log.info("online evaluation of %s (%s v%d %s): %s", key, arm.prompt, arm.version, arm.model,
                 "PASS" if score else "FAIL")
