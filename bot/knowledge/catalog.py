"""The sources' records as every process sees them: read again only when
``{knowledge}:version`` changed, and that looked at at most once a second, so an answer in a
deployment with knowledge costs no extra round trip most of the time."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from bot.knowledge.records import KnowledgeKeys, SourceRecord

LOOK_EVERY_SECONDS = 1.0


class Catalog:
    def __init__(self, redis: Any, keys: KnowledgeKeys, *, every: float = LOOK_EVERY_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.redis, self.keys, self.every, self.clock = redis, keys, every, clock
        self.version: int | None = None
        self.sources: dict[str, SourceRecord] = {}
        self.tags: frozenset[str] = frozenset()  # the sources' audiences
        self.embedding = ""  # "model:dimensions" the vectors were made with
        self._looked = float("-inf")
        self._lock = asyncio.Lock()

    async def current(self) -> dict[str, SourceRecord]:
        """The records (as of at most ``every`` seconds ago); raises RedisError."""
        if self.clock() - self._looked < self.every:
            return self.sources
        async with self._lock:
            if self.clock() - self._looked < self.every:
                return self.sources
            version = int(await self.redis.get(self.keys.version) or 0)
            if version != self.version:
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.get(self.keys.version).hgetall(self.keys.sources).get(self.keys.embedding)
                    raw_version, raw, embedding = await pipe.execute()
                self.sources = {_text(key): SourceRecord.loads(value) for key, value in raw.items()}
                self.tags = frozenset(record.audience for record in self.sources.values())
                self.embedding = _text(embedding or b"")
                self.version = int(raw_version or 0)
            self._looked = self.clock()
            return self.sources

    def expire(self) -> None:
        """Look again at the next question (this process changed the sources)."""
        self._looked = float("-inf")

    def audiences(self) -> frozenset[str]:
        return self.tags


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
