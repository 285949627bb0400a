"""Guardrails: redaction of secrets and personal data, moderation, and the online evaluation of live answers."""

REDACT_KINDS = ("secrets", "pii")  # what REDACT may name
