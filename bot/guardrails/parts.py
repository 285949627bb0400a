"""The guardrails, quality signals and promoted models one process uses, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from bot.guardrails.moderation import Moderator
from bot.guardrails.redaction import Redactor
from bot.quality.online import OnlineEval
from bot.quality.rubrics import load_rubrics
from bot.quality.signals import QualityLog
from bot.training.promoted import PromotedModels


@dataclass
class Guardrails:
    redactor: Redactor | None = None  # REDACT, REDACTION_KEY
    moderator: Moderator | None = None  # MODERATION
    quality: QualityLog | None = None  # each answer's cost and latency, and judge scores, for reports
    online: OnlineEval | None = None  # ONLINE_EVAL_SAMPLE_RATE
    promoted: PromotedModels | None = None  # fine-tuned models promoted in place of OPENAI_MODEL (bot/training/)


def build_guardrails(core: Any) -> Guardrails:
    """From the runtime's ``Core``: its settings, model client, store, ledger, metrics and audit log.
    Raises PromptError when a prompt names a rubric that does not exist."""
    settings = core.settings
    kinds = settings.redact_kinds
    redactor = Redactor(kinds, keys=settings.redaction_keys(), phone_region=settings.redact_phone_region,
                        metrics=core.metrics) if kinds else None
    moderator = Moderator(core.model.client, settings.moderation_model, mode=settings.moderation, metrics=core.metrics,
                          audit=core.audit) if settings.moderation != "off" else None
    quality = QualityLog(core.store.redis, core.store.keys)
    online = None
    if settings.online_eval_sample_rate > 0:
        online = OnlineEval(model=core.model, counter=core.counter, judge_model=settings.judge_model or settings.openai_model,
                            rubrics=load_rubrics(settings.prompts_dir, core.catalog), rate=settings.online_eval_sample_rate,
                            quality=quality, tasks=core.tasks, redis=core.store.redis,
                            now=lambda: datetime.now(timezone.utc), ledger=core.ledger, metrics=core.metrics)
    return Guardrails(redactor=redactor, moderator=moderator, quality=quality, online=online,
                      promoted=PromotedModels(core.store.redis, core.store.keys))
