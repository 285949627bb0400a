"""Finding the passages for a question: only among the sources the answer's audience may use
(everyone's, the workspace's, the channel's), by its embedding and its words, in Redis's query
engine or in this process, fused, and fitted into ``KNOWLEDGE_MAX_TOKENS``.  No source for the
audience: no embeddings request at all."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis.exceptions import RedisError
from typing import Any, Callable, Sequence

from bot.knowledge.catalog import Catalog
from bot.knowledge.chunking import Counter
from bot.knowledge.embeddings import Embedder
from bot.knowledge.engine import EngineIndex
from bot.knowledge.local import LocalIndex
from bot.knowledge.records import Passage, audiences_for, fused, made_by

log = logging.getLogger(__name__)

QUERY_TOKENS = 512  # of the question, embedded and searched


@dataclass(frozen=True)
class Found:
    passages: tuple[Passage, ...] = ()
    tokens: int = 0  # the question's embedding, as the server counted it
    searched: bool = False  # False: no source for the audience (nothing was asked of the embeddings model)


class Knowledge:
    def __init__(self, *, redis: Any, catalog: Catalog, embedder: Embedder, counter: Counter,
                 engine: EngineIndex | None = None, local: LocalIndex | None = None,
                 top_k: int = 5, max_tokens: int = 1500, min_similarity: float = 0.0) -> None:
        self.redis, self.catalog, self.embedder, self.counter = redis, catalog, embedder, counter
        self.engine, self.local = engine, local
        self.top_k, self.max_tokens, self.min_similarity = top_k, max_tokens, min_similarity
        self.where = "redis" if engine is not None else "local"
        self._warned = ""
        self.scrub: Callable[[str], str] = lambda text: text  # REDACT applied to what is learned (wiring.py)

    async def close(self) -> None:
        if self.local is not None:
            await self.local.close()
        await self.redis.aclose()

    async def warm(self) -> None:
        """Start loading the in-process index at start-up, before the first question needs it."""
        if self.local is None:
            return
        try:
            sources = await self.catalog.current()
            dimensions = self.catalog.embedding.rpartition(":")[2]
            if sources and dimensions.isdigit() and self._usable():
                await self.local.follow(sources, int(dimensions))
        except (RedisError, OSError) as exc:
            log.warning("team knowledge not loaded at start (%s): loaded at the first question", type(exc).__name__)

    async def find(self, question: str, team: str, channel: str, room: int | None = None) -> Found:
        """Passages within ``room`` tokens (at most KNOWLEDGE_MAX_TOKENS).  Raises ModelError
        (embeddings) and RedisError; the caller answers without knowledge."""
        sources = await self.catalog.current()
        tags = [tag for tag in audiences_for(team, channel) if tag in self.catalog.audiences()]
        if not tags or not question.strip() or not self._usable():
            return Found()
        text = self.counter.shorten(question, QUERY_TOKENS, marker="")
        embedded = await self.embedder.embed([text])
        vector = embedded.vectors[0]
        if self.engine is not None:  # narrowed by the query engine unless every source is this audience's
            narrow = not self.catalog.audiences() <= set(tags)  # (each passage's audience is checked again below)
            by_vector, by_words = await self.engine.search(vector, text, tags if narrow else None)
        else:
            assert self.local is not None
            await self.local.follow(sources, len(vector))
            by_vector, by_words = self.local.search(vector, text, tags)
        close = [key for key, distance in by_vector if 1.0 - distance >= self.min_similarity]  # not merely nearest
        best = fused([close, by_words], self.top_k * 2)
        room = min(self.max_tokens, self.max_tokens if room is None else room)
        return Found(await self._passages([key for key, _ in best], set(tags), dict(best), room), embedded.tokens, True)

    async def _passages(self, keys: Sequence[str], tags: set[str], scores: dict[str, float], room: int
                        ) -> tuple[Passage, ...]:
        """The passages' texts, checked against the audience once more, within the token budget."""
        if not keys:
            return ()
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(key, "text", "source", "audience")
            rows = await pipe.execute()
        found: list[Passage] = []
        for key, (text, source, audience) in zip(keys, rows):
            if text is None or source is None or audience is None or audience.decode() not in tags:
                continue
            record = self.catalog.sources.get(source.decode())
            if record is None or record.audience not in tags:
                continue
            body = text.decode("utf-8")
            size = self.counter.count_text(body) + 12  # its label
            if size > room:
                continue
            room -= size
            found.append(Passage(key, record.id, record.name, record.link, body, scores.get(key, 0.0)))
            if len(found) == self.top_k:
                break
        return tuple(found)

    def _usable(self) -> bool:
        """Whether the stored vectors were made by this embeddings model (else: reindex first)."""
        made_with = self.catalog.embedding
        if not made_with or made_by(made_with, self.embedder.model, self.embedder.dimensions):
            return True
        if self._warned != made_with:
            self._warned = made_with
            log.warning("team knowledge is not searched: it was embedded with %s, EMBEDDING_MODEL is %s "
                        "(run `python -m bot knowledge reindex`)", made_with, self.embedder.model)
        return False
