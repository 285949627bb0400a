"""``python -m bot check``'s lines for team knowledge, as (passed, text): the embeddings endpoint
answers for EMBEDDING_MODEL, the sources kept, where they are searched, and whether their vectors
were made by today's embeddings model (else ``knowledge reindex``)."""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError

from bot.knowledge.embeddings import Embedder
from bot.llm.errors import ModelError


Line = tuple[bool, str]


async def check_knowledge(settings: Any) -> list[Line]:
    from bot.llm.model import build_openai_client

    if not settings.knowledge:
        return []
    client = build_openai_client(api_key=settings.model_api_key(), base_url=settings.openai_base_url, max_retries=0,
                                 timeout=min(settings.model_timeout_seconds, 20))
    embedder = Embedder(client, settings.embedding_model, settings.embedding_dimensions, seconds=20)
    try:
        dimensions = (await embedder.embed(["hello"])).vectors.shape[1]
    except ModelError as exc:
        return [(False, f"the embeddings endpoint failed for EMBEDDING_MODEL {settings.embedding_model!r} "
                            f"({exc.kind}): answers go without team knowledge")]
    finally:
        await client.close()
    lines = [(True, f"the embeddings endpoint answers ({settings.embedding_model}, {dimensions} dimensions)")]
    return lines + ([] if settings.embedded_store else await _sources(settings, f"{settings.embedding_model}:{dimensions}"))


async def _sources(settings: Any, made_with: str) -> list[Line]:
    from bot.knowledge.wiring import NoQueryEngine, open_knowledge
    from bot.memory.connection import open_redis
    from bot.memory.conversation import Keys
    try:
        redis = await open_redis(settings.redis_url, cluster=settings.redis_cluster, max_connections=2)
    except (RedisError, OSError):
        return []  # check_redis says so
    try:
        knowledge = await open_knowledge(settings, redis, None, None, Keys(settings.redis_key_prefix).base)  # type: ignore[arg-type]
    except NoQueryEngine as exc:
        await redis.aclose()
        return [(False, str(exc))]
    try:
        assert knowledge is not None
        sources = await knowledge.catalog.current()
        stored = knowledge.catalog.embedding
    except (RedisError, OSError):
        return []
    finally:
        await knowledge.close()  # type: ignore[union-attr]
        await redis.aclose()
    where = "in Redis's query engine" if knowledge.engine is not None else "in each bot process"
    lines = [(True, f"team knowledge: {len(sources)} sources, searched {where}")]
    if stored and stored != made_with:
        lines.append((False, f"team knowledge was embedded with {stored}, EMBEDDING_MODEL gives {made_with}: "
                                 "run `python -m bot knowledge reindex`"))
    return lines
