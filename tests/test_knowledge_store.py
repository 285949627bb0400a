"""Team knowledge on every store the bot runs on: a Redis Cluster (searched in-process, its keys in
one slot) and the embedded store, with the fake model's embeddings; the same library and search
the bot uses (the single Redis and the query engine are covered end to end in test_e2e_knowledge)."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from openai import AsyncOpenAI

from bot.knowledge.wiring import library_of, open_knowledge
from bot.memory.connection import connect, open_redis
from bot.tokens import TokenCounter

from .harness import delete_prefix
from .redis_servers import start_sentinel_pair

RUNBOOK = "# Runbook\n\n## Rolling back\n\nRun deploy --undo to roll back a release.\n\n## Paging\n\nAnswer pages fast."


def settings(**overrides: object) -> SimpleNamespace:
    values = {"knowledge": True, "knowledge_search": "auto", "embedding_model": "text-embedding-3-small",
              "embedding_dimensions": 64, "knowledge_top_k": 3, "knowledge_max_tokens": 1500,
              "knowledge_min_similarity": 0.3, "redact_kinds": ("secrets",), "redact_phone_region": "US"}
    values.update(overrides)
    return SimpleNamespace(**values)


@pytest.fixture(params=["cluster", "sentinel", "embedded"])
async def store(request: pytest.FixtureRequest):
    """(client, key base): a Redis Cluster's, a Sentinel-watched primary's (db 3) or the embedded store's."""
    prefix, servers = f"test-{uuid.uuid4().hex[:12]}", None
    if request.param == "cluster":
        url = request.getfixturevalue("redis_cluster_url")
        redis = await open_redis(url, cluster="auto")
    elif request.param == "sentinel":
        servers, _, sentinel = start_sentinel_pair("knowledge")
        url, redis = None, await open_redis(f"redis+sentinel://127.0.0.1:{sentinel}/knowledge/3")
    else:
        url, redis = None, connect(None)
    yield redis, f"{prefix}:v1"
    await redis.aclose()
    if url is not None:
        delete_prefix(url, prefix)
    if servers is not None:
        servers.stop()


async def test_sources_are_added_found_and_removed(store, model, tiktoken_cache):
    redis, base = store
    client = AsyncOpenAI(base_url=model.base_url, api_key="sk-test")
    counter = TokenCounter.for_model("gpt-4o-mini", Path(tiktoken_cache))
    knowledge = await open_knowledge(settings(), redis, client, counter, base)
    assert knowledge is not None and knowledge.where == "local"
    library = library_of(knowledge)
    try:
        added = await library.add(location="runbook.md", name="runbook.md", link="", text=RUNBOOK, audience="all")
        assert (added.status, added.record.passages, added.embedded) == ("added", 2, 2)
        await library.add(location="pay.md", name="pay.md", link="", text="# Pay\n\nThe rollback bonus is 500.",
                          audience="chan_C2")
        found = await knowledge.find("how do I roll back a release?", "T1", "C1")
        assert [p.name for p in found.passages] == ["runbook.md"] and "deploy --undo" in found.passages[0].text
        assert "pay.md" in [p.name for p in (await knowledge.find("rollback bonus", "T1", "C2")).passages]
        assert [body["dimensions"] for body in model.embeddings] == [64, 64, 64, 64]
        assert await redis.exists(f"{base}:{{knowledge}}:sources") and not await redis.dbsize() == 0
        assert [r.name for r in await library.remove("runbook.md")] == ["runbook.md"]
        knowledge.catalog.every = 0.0
        assert not (await knowledge.find("how do I roll back a release?", "T1", "C1")).passages
    finally:
        await knowledge.close()
        await client.close()
