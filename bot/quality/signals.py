"""The quality signals kept for reports: one Redis stream entry per answer (its prompt, version,
variant, model, cost and latency) and per online judge score, trimmed to the retention period.
Never message text: the ratings themselves are the feedback records (bot/operations/feedback.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

import redis.asyncio as aioredis

from bot.memory.batch import Batch
from bot.memory.conversation import Keys, as_text

RETENTION_DAYS = 90
DAY_MS = 86_400_000
READ_PAGE = 1000


@dataclass(frozen=True)
class Arm:
    """What a signal is about: one prompt version, its experiment variant and the model."""

    prompt: str
    version: int
    variant: str
    model: str

    def fields(self) -> dict[str, str]:
        return {"prompt": self.prompt, "version": str(self.version), "variant": self.variant, "model": self.model}

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> "Arm":
        return cls(str(fields.get("prompt") or ""), int(fields.get("version") or fields.get("prompt_version") or 0),
                   str(fields.get("variant") or ""), str(fields.get("model") or ""))


@dataclass(frozen=True)
class Signal:
    kind: str  # "answer" or "score"
    at: datetime
    arm: Arm
    answer: str  # "<channel>:<ts>" of the answer
    team: str
    values: dict[str, float]  # answer: cost, latency_ms, first_token_ms; score: score, judge_cost


class QualityLog:
    def __init__(self, redis: aioredis.Redis, keys: Keys, *, retention_days: int = RETENTION_DAYS) -> None:
        self.redis = redis
        self.key = f"{keys.base}:{{quality}}:log"
        self.retention_ms = retention_days * DAY_MS

    def add_in(self, batch: Batch, kind: str, arm: Arm, *, answer: str, team: str, **values: float | None) -> None:
        """One signal, written with the batch (an answer's commit, a score's ledger entry)."""
        fields = {"kind": kind, "answer": answer, "team": team, **arm.fields(),
                  **{name: repr(float(value)) for name, value in values.items() if value is not None}}
        oldest = int(time.time() * 1000) - self.retention_ms
        batch.command("XADD", self.key, "MINID", "~", oldest, "*", *(part for pair in fields.items() for part in pair))

    async def read(self, since: datetime | None = None) -> list[Signal]:
        start = f"{int(since.timestamp() * 1000)}-0" if since is not None else "-"
        found: list[Signal] = []
        while True:
            page = await self.redis.xrange(self.key, min=start, max="+", count=READ_PAGE)
            for entry_id, raw in page:
                found.append(_signal(as_text(entry_id), raw))
            if len(page) < READ_PAGE:
                return found
            start = "(" + as_text(page[-1][0])


def _signal(entry_id: str, raw: Mapping[Any, Any]) -> Signal:
    fields = {as_text(k): as_text(v) for k, v in raw.items()}
    at = datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, timezone.utc)
    values = {}
    for name, value in fields.items():
        if name not in ("kind", "answer", "team", "prompt", "version", "variant", "model"):
            try:
                values[name] = float(value)
            except ValueError:
                continue
    return Signal(fields.get("kind", ""), at, Arm.of(fields), fields.get("answer", ""), fields.get("team", ""), values)
