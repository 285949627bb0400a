"""Knowledge searched in this process, from the same Redis data, where Redis has no query
engine (plain Redis 7, a Redis Cluster, a Sentinel service, the embedded store): per audience, a
usearch HNSW index of the vectors (half-precision: half the memory, the same recall) and a BM25
keyword index (bot/knowledge/keywords.py).

Brought up to date in the background, source by source, when the catalog changes: a changed
or removed source's passages leave the indexes, a new one's are read from Redis in batches and
added whole (the HNSW insertions and the word counting in a thread, so the event loop keeps
answering; usearch takes searches during insertions).  A search waits for that at most
``wait`` seconds (a few sources: done by then), then searches what is loaded: 100,000 passages
take tens of seconds to index, and no answer waits for that."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from usearch.index import Index

from bot.knowledge.keywords import KeywordIndex, counted
from bot.knowledge.records import KnowledgeKeys, SourceRecord, unpacked

log = logging.getLogger(__name__)

READ_BATCH = 500  # passages read from Redis per round trip
CANDIDATES = 30
LOAD_WAIT_SECONDS = 2.0


@dataclass
class Shelf:
    """The indexes of one audience."""

    dimensions: int
    vectors: Index = field(init=False)
    keywords: KeywordIndex = field(default_factory=KeywordIndex)
    keys: list[str] = field(default_factory=list)  # passage number -> its Redis key
    by_source: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.vectors = Index(ndim=self.dimensions, metric="cos", dtype="f16")

    async def add(self, source: str, keys: Sequence[str], texts: Sequence[str], vectors: np.ndarray) -> None:
        """A whole source's passages: numbered here, indexed in a thread, their words counted there too."""
        first = len(self.keys)
        numbers = list(range(first, first + len(keys)))
        self.keys.extend(keys)

        def index() -> list[dict[str, int]]:
            self.vectors.add(np.asarray(numbers, dtype=np.uint64), vectors, threads=1)
            return [counted(text) for text in texts]

        for counts in await asyncio.to_thread(index):
            self.keywords.add_counted(counts)  # numbered in step with self.keys
        self.by_source.setdefault(source, []).extend(numbers)

    def remove(self, source: str) -> None:
        numbers = self.by_source.pop(source, [])
        if numbers:
            self.vectors.remove(np.asarray(numbers, dtype=np.uint64))
        for number in numbers:
            self.keywords.remove(number)

    def search(self, vector: np.ndarray, text: str, n: int) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        nearest: list[tuple[str, float]] = []
        if len(self.vectors):
            found = self.vectors.search(vector, min(n, len(self.vectors)))
            nearest = [(self.keys[int(key)], float(distance)) for key, distance in zip(found.keys, found.distances)]
        return nearest, [(self.keys[doc], score) for doc, score in self.keywords.search(text, n)]


class LocalIndex:
    def __init__(self, redis: Any, keys: KnowledgeKeys, *, wait: float = LOAD_WAIT_SECONDS) -> None:
        self.redis, self.keys, self.wait = redis, keys, wait  # a binary client (bot.memory.connection.binary_twin)
        self.shelves: dict[str, Shelf] = {}
        self.loaded: dict[str, SourceRecord] = {}
        self._task: asyncio.Task[None] | None = None
        self._settled: Mapping[str, SourceRecord] | None = None  # the catalog's records last found all loaded

    def current(self, sources: Mapping[str, SourceRecord]) -> bool:
        return len(self.loaded) == len(sources) and all(self.loaded.get(sid) == r for sid, r in sources.items())

    async def follow(self, sources: Mapping[str, SourceRecord], dimensions: int) -> None:
        """Bring the indexes up to ``sources`` (the catalog's records) in the background, waiting
        for it at most ``wait`` seconds."""
        if sources is self._settled:  # the catalog hands out the same mapping until they change
            return
        if self.current(sources):
            self._settled = sources
            return
        if self._task is not None and not self._task.done():
            return  # already on its way: this search takes what is loaded (only the one that started it waits)
        self._task = asyncio.create_task(self._follow(dict(sources), dimensions))
        self._task.add_done_callback(_log_failure)
        await self.ready(self.wait)

    async def ready(self, seconds: float | None = None) -> None:
        """Wait for the loading under way (at most ``seconds``)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(self._task), seconds)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _follow(self, sources: dict[str, SourceRecord], dimensions: int) -> None:
        if any(shelf.dimensions != dimensions for shelf in self.shelves.values()):
            self.shelves, self.loaded = {}, {}  # vectors of another length: reindexed
        for sid in [sid for sid, record in self.loaded.items() if sources.get(sid) != record]:
            old = self.loaded.pop(sid)
            if old.audience in self.shelves:
                self.shelves[old.audience].remove(sid)
        for sid, record in sources.items():
            if sid not in self.loaded:
                await self._load(record, dimensions)
                self.loaded[sid] = record

    async def _load(self, record: SourceRecord, dimensions: int) -> None:
        kept: list[tuple[str, str, np.ndarray]] = []
        for start in range(0, record.passages, READ_BATCH):
            keys = [self.keys.passage(record.id, n) for n in range(start, min(record.passages, start + READ_BATCH))]
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hmget(key, "text", "vector")
                rows = await pipe.execute()
            kept += [(key, text.decode("utf-8"), unpacked(vector)) for key, (text, vector) in zip(keys, rows)
                     if text is not None and vector is not None and len(vector) == 4 * dimensions]
        if kept:
            shelf = self.shelves.get(record.audience) or self.shelves.setdefault(record.audience, Shelf(dimensions))
            await shelf.add(record.id, [k for k, _, _ in kept], [t for _, t, _ in kept], np.vstack([v for _, _, v in kept]))

    def search(self, vector: np.ndarray, text: str, audiences: Sequence[str], n: int = CANDIDATES
               ) -> tuple[list[tuple[str, float]], list[str]]:
        """Passage keys by vector (with their cosine distances), and by words, best first, over the audiences' shelves."""
        nearest: list[tuple[str, float]] = []
        by_words: list[tuple[str, float]] = []
        for audience in audiences:
            shelf = self.shelves.get(audience)
            if shelf is not None:
                found, matched = shelf.search(vector, text, n)
                nearest += found
                by_words += matched
        nearest.sort(key=lambda item: item[1])
        by_words.sort(key=lambda item: -item[1])
        return nearest[:n], [key for key, _ in by_words[:n]]


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("team knowledge could not be loaded into this process (%s): tried again at the next search",
                    type(task.exception()).__name__)
