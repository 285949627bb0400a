"""Adding, replacing, removing and re-embedding sources (``bot knowledge``, ``/assistant learn``).

A source added again with the same text changes nothing; with a changed text its passages are
replaced, and only passages whose text is new are embedded (the others keep their vectors).
Each change is one transaction, and bumps ``{knowledge}:version`` for every process."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Callable

from bot.knowledge.chunking import CHUNK_TOKENS, Counter, chunk_text
from bot.knowledge.embeddings import Embedder
from bot.knowledge.engine import EngineIndex
from bot.knowledge.records import KnowledgeKeys, SourceRecord, content_hash, made_by, packed, source_id


LOCK_SECONDS = 600  # the longest one source's reading and embedding may hold its lock


class KnowledgeError(Exception):
    """Why a source could not be added; one sentence."""


@dataclass(frozen=True)
class Added:
    record: SourceRecord
    status: str  # "added", "replaced", "unchanged"
    embedded: int = 0  # passages sent to the embeddings model (the rest kept their vectors)
    tokens: int = 0  # what the embeddings model counted


class Library:
    def __init__(self, redis: Any, keys: KnowledgeKeys, embedder: Embedder, counter: Counter, *, engine: EngineIndex | None = None,
                 chunk_tokens: int = CHUNK_TOKENS, now: Callable[[], float] = time.time,
                 changed: Callable[[], None] = lambda: None, scrub: Callable[[str], str] = lambda text: text) -> None:
        self.scrub = scrub  # REDACT's placeholders in place of secrets and personal data, before anything is kept
        self.changed = changed  # this process's catalog looks again (others within a second)
        self.redis, self.keys = redis, keys  # a binary client (bot.memory.connection.binary_twin)
        self.embedder, self.counter, self.engine = embedder, counter, engine
        self.chunk_tokens, self.now = chunk_tokens, now

    async def sources(self) -> list[SourceRecord]:
        raw = await self.redis.hgetall(self.keys.sources)
        return sorted((SourceRecord.loads(value) for value in raw.values()), key=lambda r: (r.audience, r.name))

    async def add(self, *, location: str, name: str, link: str, text: str, audience: str, added_by: str = "",
                  known: dict[str, bytes] | None = None) -> Added:
        """``known``: vectors by their text's hash, used and filled (one document added for several
        audiences is embedded once).  Raises KnowledgeError, ModelError (embeddings) and RedisError."""
        sid = source_id(location, audience)
        if not await self.redis.set(self.keys.lock(sid), added_by or "-", nx=True, ex=LOCK_SECONDS):
            raise KnowledgeError(f"{name} is being added right now by someone else: try again in a minute")
        try:
            return await self._add(sid, location=location, name=name, link=link, text=self.scrub(text), audience=audience,
                                   added_by=added_by, known={} if known is None else known)
        finally:
            await self.redis.delete(self.keys.lock(sid))
            self.changed()

    async def _add(self, sid: str, *, location: str, name: str, link: str, text: str, audience: str, added_by: str,
                   known: dict[str, bytes]) -> Added:
        whole = content_hash(text)
        raw = await self.redis.hget(self.keys.sources, sid)
        old = SourceRecord.loads(raw) if raw else None
        made_with = (await self.redis.get(self.keys.embedding) or b"").decode()
        if old is not None and old.hash == whole and old.name == name and old.link == link:
            return Added(old, "unchanged")
        chunks = await asyncio.to_thread(chunk_text, text, self.counter, self.chunk_tokens)
        if not chunks:
            raise KnowledgeError(f"{name} has no text to learn from")
        texts = [chunk.embedded(name) for chunk in chunks]
        hashes = [content_hash(t) for t in texts]
        same_model = made_by(made_with, self.embedder.model, self.embedder.dimensions)
        kept = await self._old_vectors(old, set(hashes)) if old is not None and same_model else {}
        kept.update({h: known[h] for h in hashes if h in known})
        new = sorted({h: t for h, t in zip(hashes, texts) if h not in kept}.items())
        embedded = await self.embedder.embed([t for _, t in new]) if new else None
        vectors = {**kept, **({h: packed(v) for (h, _), v in zip(new, embedded.vectors)} if embedded else {})}
        known.update(vectors)
        dimensions = len(next(iter(vectors.values()))) // 4
        this = f"{self.embedder.model}:{dimensions}"
        if made_with and made_with != this:
            raise KnowledgeError(f"the knowledge was embedded with {made_with} and this is {this}: "
                                 "run `python -m bot knowledge reindex` first")
        record = SourceRecord(sid, name, location, link, audience, whole, len(chunks), added_by, self.now())
        async with self.redis.pipeline(transaction=True) as pipe:
            for n in range(len(chunks), old.passages if old is not None else 0):
                pipe.delete(self.keys.passage(sid, n))
            for n, (text_, digest) in enumerate(zip(texts, hashes)):  # every field written: nothing stale stays
                pipe.hset(self.keys.passage(sid, n), mapping={"text": text_, "audience": audience, "source": sid,
                                                        "hash": digest, "vector": vectors[digest]})
            pipe.hset(self.keys.sources, sid, record.dumps()).set(self.keys.embedding, this).incr(self.keys.version)
            await pipe.execute()
        if self.engine is not None:
            await self.engine.ensure(dimensions)
        return Added(record, "replaced" if old is not None else "added", len(new), embedded.tokens if embedded else 0)

    async def remove(self, wanted: str) -> list[SourceRecord]:
        """Remove the sources with this id, location or name; returns them."""
        gone = [r for r in await self.sources() if wanted in (r.id, r.location, r.name)]
        if gone:
            async with self.redis.pipeline(transaction=True) as pipe:
                for record in gone:
                    for n in range(record.passages):
                        pipe.delete(self.keys.passage(record.id, n))
                    pipe.hdel(self.keys.sources, record.id)
                pipe.incr(self.keys.version)
                await pipe.execute()
            self.changed()
        return gone

    async def reindex(self, progress: Callable[[SourceRecord], None] = lambda record: None) -> tuple[int, int]:
        """Embed every passage again with today's model (the texts are kept in Redis: no source is
        read again); returns (passages, tokens)."""
        total = tokens = 0
        dimensions = 0
        for record in await self.sources():
            keys = [self.keys.passage(record.id, n) for n in range(record.passages)]
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hget(key, "text")
                texts = [raw.decode("utf-8") for raw in await pipe.execute() if raw is not None]
            embedded = await self.embedder.embed(texts)
            dimensions = embedded.vectors.shape[1] if len(texts) else dimensions
            async with self.redis.pipeline(transaction=True) as pipe:
                for key, vector in zip(keys, embedded.vectors):
                    pipe.hset(key, "vector", packed(vector))
                pipe.incr(self.keys.version)
                await pipe.execute()
            total, tokens = total + len(texts), tokens + embedded.tokens
            progress(record)
        if dimensions:
            await self.redis.set(self.keys.embedding, f"{self.embedder.model}:{dimensions}")
            await self.redis.incr(self.keys.version)
            if self.engine is not None:
                await self.engine.ensure(dimensions, again=True)
        return total, tokens

    async def _old_vectors(self, old: SourceRecord, wanted: set[str]) -> dict[str, bytes]:
        """The vectors of the source's passages whose text is unchanged, by the text's hash."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for n in range(old.passages):
                pipe.hmget(self.keys.passage(old.id, n), "hash", "vector")
            rows = await pipe.execute()
        return {digest.decode(): vector for digest, vector in rows if digest is not None and vector is not None
                and digest.decode() in wanted}
