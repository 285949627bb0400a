"""The guardrails one process runs, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.guardrails.moderation import Moderator
from bot.guardrails.redaction import Redactor


@dataclass
class Guardrails:
    redactor: Redactor | None = None  # REDACT, REDACTION_KEY
    moderator: Moderator | None = None  # MODERATION


def build_guardrails(settings: Any, *, client: Any, metrics: Any, audit: Any) -> Guardrails:
    """``client``: the OpenAI-compatible client the model is asked through."""
    kinds = settings.redact_kinds
    redactor = Redactor(kinds, keys=settings.redaction_keys(), phone_region=settings.redact_phone_region,
                        metrics=metrics) if kinds else None
    moderator = Moderator(client, settings.moderation_model, mode=settings.moderation, metrics=metrics,
                          audit=audit) if settings.moderation != "off" else None
    return Guardrails(redactor=redactor, moderator=moderator)
