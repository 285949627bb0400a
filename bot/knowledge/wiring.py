"""Team knowledge built from the settings: the search in Redis's query engine or in this
process (KNOWLEDGE_SEARCH), the embeddings model, and the library that writes sources."""

from __future__ import annotations

import logging
from typing import Any

from bot.guardrails.redaction import Redactor
from bot.knowledge.catalog import Catalog
from bot.knowledge.chunking import Counter
from bot.knowledge.embeddings import Embedder
from bot.knowledge.engine import EngineIndex, has_query_engine
from bot.knowledge.library import Library
from bot.knowledge.local import LocalIndex
from bot.knowledge.records import KnowledgeKeys
from bot.knowledge.search import Knowledge
from bot.memory.connection import binary_twin

log = logging.getLogger(__name__)

NO_ENGINE = ("KNOWLEDGE_SEARCH=redis, but the Redis at REDIS_URL has no query engine (FT.* commands: Redis 8, "
             "Redis Stack or a managed Redis with search): use such a server, or KNOWLEDGE_SEARCH=auto")


class NoQueryEngine(Exception):
    pass


async def open_knowledge(settings: Any, redis: Any, client: Any, counter: Counter, base: str) -> Knowledge | None:
    """None when KNOWLEDGE is off; ``base``: the deployment's key base (bot.memory.conversation.Keys.base).
    Raises NoQueryEngine (its message one line) and RedisError."""
    if not settings.knowledge:
        return None
    binary, keys = binary_twin(redis), KnowledgeKeys(base)
    engine = None
    if settings.knowledge_search != "local":
        if await has_query_engine(binary):
            engine = EngineIndex(binary, keys)
        elif settings.knowledge_search == "redis":
            await binary.aclose()
            raise NoQueryEngine(NO_ENGINE)
    embedder = Embedder(client, settings.embedding_model, settings.embedding_dimensions)
    knowledge = Knowledge(redis=binary, catalog=Catalog(binary, keys), embedder=embedder, counter=counter, engine=engine,
                          local=None if engine is not None else LocalIndex(binary, keys),
                          top_k=settings.knowledge_top_k, max_tokens=settings.knowledge_max_tokens,
                          min_similarity=settings.knowledge_min_similarity)
    if settings.redact_kinds:  # REDACT: what is learned keeps placeholders, its values never stored nor sent
        redactor = Redactor(settings.redact_kinds, phone_region=settings.redact_phone_region)
        knowledge.scrub = lambda text: redactor.session().text(text)
    log.info("team knowledge is searched %s", "in Redis's query engine" if engine is not None else "in this process")
    return knowledge


def library_of(knowledge: Knowledge) -> Library:
    return Library(knowledge.redis, knowledge.catalog.keys, knowledge.embedder, knowledge.counter, engine=knowledge.engine,
                   changed=knowledge.catalog.expire, scrub=knowledge.scrub)
