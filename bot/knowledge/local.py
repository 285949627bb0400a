"""Knowledge searched in this process, from the same Redis data, where Redis has no query
engine (plain Redis 7, a Redis Cluster, the embedded store): per audience, a usearch HNSW
index of the vectors and a BM25 keyword index (bot/knowledge/keywords.py).  Brought up to
date source by source when the catalog changes: a changed or removed source's passages
leave the indexes, a new one's are read from Redis (in batches) and added."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from usearch.index import Index

from bot.knowledge.keywords import KeywordIndex
from bot.knowledge.records import KnowledgeKeys, SourceRecord, unpacked

log = logging.getLogger(__name__)

READ_BATCH = 500  # passages read from Redis per round trip
CANDIDATES = 30


@dataclass
class Shelf:
    """The indexes of one audience."""

    dimensions: int
    vectors: Index = field(init=False)
    keywords: KeywordIndex = field(default_factory=KeywordIndex)
    keys: list[str] = field(default_factory=list)  # passage number -> its Redis key
    by_source: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.vectors = Index(ndim=self.dimensions, metric="cos", dtype="f32")

    def add(self, source: str, keys: Sequence[str], texts: Sequence[str], vectors: np.ndarray) -> None:
        numbers = [self.keywords.add(text) for text in texts]
        self.keys.extend(keys)
        self.vectors.add(np.asarray(numbers, dtype=np.uint64), vectors)
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
    def __init__(self, redis: Any, keys: KnowledgeKeys) -> None:
        self.redis, self.keys = redis, keys  # a binary client (bot.memory.connection.binary_twin)
        self.shelves: dict[str, Shelf] = {}
        self.loaded: dict[str, SourceRecord] = {}
        self._lock = asyncio.Lock()

    async def follow(self, sources: Mapping[str, SourceRecord], dimensions: int) -> None:
        """Bring the indexes up to ``sources`` (the catalog's records); raises RedisError."""
        if all(self.loaded.get(sid) == record for sid, record in sources.items()) and len(self.loaded) == len(sources):
            return
        async with self._lock:
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
        shelf = self.shelves.get(record.audience) or self.shelves.setdefault(record.audience, Shelf(dimensions))
        for start in range(0, record.passages, READ_BATCH):
            keys = [self.keys.passage(record.id, n) for n in range(start, min(record.passages, start + READ_BATCH))]
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hmget(key, "text", "vector")
                rows = await pipe.execute()
            kept = [(key, text.decode("utf-8"), unpacked(vector)) for key, (text, vector) in zip(keys, rows)
                    if text is not None and vector is not None and len(vector) == 4 * dimensions]
            if kept:  # here, not in a thread: a search never meets a half-added batch (a few ms per batch)
                shelf.add(record.id, [k for k, _, _ in kept], [t for _, t, _ in kept], np.vstack([v for _, _, v in kept]))

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
