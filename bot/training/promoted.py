"""Promoted models (`python -m bot finetune promote`): the model that answers instead of
OPENAI_MODEL, for every channel or one, kept in Redis so every process uses it without a
restart.  Each process reads them at most every ``REFRESH_SECONDS`` (one round trip, off
every answer's own)."""

from __future__ import annotations

import time
from typing import Any, Callable

from redis.exceptions import RedisError

from bot.memory.conversation import Keys, as_text

REFRESH_SECONDS = 10.0
DEFAULT = "default"


def promoted_key(keys: Keys) -> str:
    return f"{keys.base}:{{models}}:promoted"


class PromotedModels:
    def __init__(self, redis: Any, keys: Keys, *, clock: Callable[[], float] = time.monotonic,
                 refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.redis, self.key, self.clock, self.refresh_seconds = redis, promoted_key(keys), clock, refresh_seconds
        self._read_at = float("-inf")
        self._models: dict[str, str] = {}

    async def current(self) -> dict[str, str]:
        """``default`` and ``channel:<id>`` -> model; the last known while Redis does not answer."""
        if self.clock() - self._read_at >= self.refresh_seconds:
            self._read_at = self.clock()
            try:
                raw = await self.redis.hgetall(self.key)
            except (RedisError, OSError):
                return self._models
            self._models = {as_text(k): as_text(v) for k, v in raw.items()}
        return self._models

    async def for_channel(self, channel: str) -> str | None:
        return (await self.current()).get(f"channel:{channel}")

    async def default(self) -> str | None:
        return (await self.current()).get(DEFAULT)

    async def promote(self, model: str, channel: str | None = None) -> None:
        await self.redis.hset(self.key, f"channel:{channel}" if channel else DEFAULT, model)
