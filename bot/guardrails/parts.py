"""The guardrails one process runs, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.guardrails.redaction import Redactor


@dataclass
class Guardrails:
    redactor: Redactor | None = None  # REDACT, REDACTION_KEY


def build_guardrails(settings: Any, metrics: Any) -> Guardrails:
    kinds = settings.redact_kinds
    redactor = Redactor(kinds, keys=settings.redaction_keys(), phone_region=settings.redact_phone_region,
                        metrics=metrics) if kinds else None
    return Guardrails(redactor=redactor)
