"""Knowledge searched in Redis's query engine (``FT.*``: Redis 8, Redis Stack, managed Redis),
through RedisVL: an HNSW vector index and a full-text index over the passage hashes of
bot/knowledge/records.py, and two queries per question (nearest vectors, BM25 words), each
narrowed to the answer's audiences by a tag filter, fused by reciprocal rank."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Sequence

import numpy as np
from redis.exceptions import RedisError, ResponseError
from redisvl.index import AsyncSearchIndex
from redisvl.query import FilterQuery, VectorQuery
from redisvl.query.filter import Tag
from redisvl.schema import IndexSchema

from bot.knowledge.keywords import words
from bot.knowledge.records import KnowledgeKeys
from bot.memory.connection import is_cluster

log = logging.getLogger(__name__)

CANDIDATES = 30  # of each kind, before fusion
MAX_TERMS = 24  # of a question's words searched


def schema(keys: KnowledgeKeys, dimensions: int) -> IndexSchema:
    return IndexSchema.from_dict({
        "index": {"name": keys.index, "prefix": keys.prefix, "key_separator": "", "storage_type": "hash"},
        "fields": [
            {"name": "text", "type": "text"},
            {"name": "audience", "type": "tag"},
            {"name": "source", "type": "tag"},
            {"name": "vector", "type": "vector",
             "attrs": {"dims": dimensions, "algorithm": "hnsw", "distance_metric": "cosine", "datatype": "float32"}},
        ],
    })


async def has_query_engine(redis: Any) -> bool:
    """Whether the server answers FT.* (a Redis Cluster is searched in-process: its query engine
    needs a coordinator that open-source clusters lack)."""
    if is_cluster(redis):
        return False
    try:
        await redis.execute_command("FT._LIST")
    except (ResponseError, RedisError, NotImplementedError, AttributeError):
        return False
    return True


class EngineIndex:
    def __init__(self, redis: Any, keys: KnowledgeKeys) -> None:
        self.redis, self.keys = redis, keys  # a binary client (bot.memory.connection.binary_twin)
        self._index: AsyncSearchIndex | None = None
        self._dimensions = 0

    async def ensure(self, dimensions: int, *, again: bool = False) -> None:
        """The index over the passages, made for vectors of ``dimensions`` (``again``: dropped and
        made anew, the passages kept, as after a new embeddings model)."""
        index = AsyncSearchIndex(schema(self.keys, dimensions), redis_client=self.redis)
        if again and await index.exists():
            await index.delete(drop=False)
        if not await index.exists():
            await index.create(overwrite=False)
        self._index, self._dimensions = index, dimensions

    async def drop(self) -> None:
        index = self._index or AsyncSearchIndex(schema(self.keys, self._dimensions or 1), redis_client=self.redis)
        if await index.exists():
            await index.delete(drop=False)
        self._index = None

    async def search(self, vector: np.ndarray, text: str, audiences: Sequence[str] | None, n: int = CANDIDATES
                     ) -> tuple[list[tuple[str, float]], list[str]]:
        """Passage keys by vector (with their cosine distances), and by words (BM25), best first,
        among the ``audiences``' passages (None: every passage may be used; a filter the vector
        search need not apply is several times faster)."""
        if self._index is None or self._dimensions != len(vector):
            await self.ensure(len(vector))
        assert self._index is not None
        audience = Tag("audience") == list(audiences) if audiences is not None else None
        nearest = VectorQuery(vector=vector.astype(np.float32).tobytes(), vector_field_name="vector",
                              return_fields=["source"], num_results=n, filter_expression=audience)
        queries = [self._index.query(nearest)]
        terms = list(dict.fromkeys(words(text)))[:MAX_TERMS]
        if terms:  # the words are \w+ only: nothing to escape
            matching = f"@text:({' | '.join(terms)})" + (f" {audience}" if audience is not None else "")
            queries.append(self._index.query(FilterQuery(matching, return_fields=["source"], num_results=n)
                                             .scorer("BM25STD")))
        found = await asyncio.gather(*queries)
        by_vector = [(row["id"], float(row["vector_distance"])) for row in found[0]]
        by_words = [row["id"] for row in found[1]] if len(found) > 1 else []
        return by_vector, by_words
