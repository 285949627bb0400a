"""Team knowledge in evals.  A case file's ``knowledge:`` folder is read once per run with the
bot's own reader, chunker, embeddings model and in-process search, into a private embedded
store, for everyone; each case's latest message is searched before its answer, the passages
go into the request as they do in Slack (bot/answer/retrieve.py), and ``retrieved: <source>``
checks that the source (a file's path in the folder) was among them."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from bot.files.sandbox import ExtractionPool
from bot.knowledge.catalog import Catalog
from bot.knowledge.chunking import Counter
from bot.knowledge.documents import read_file, readable_files
from bot.knowledge.embeddings import Embedder
from bot.knowledge.library import Library
from bot.knowledge.local import LocalIndex
from bot.knowledge.records import EVERYONE, KnowledgeKeys
from bot.knowledge.search import Found, Knowledge
from bot.memory.connection import binary_twin, connect

MAX_FILE_BYTES = 20 * 1024 * 1024


class EvalKnowledge:
    def __init__(self, *, client: Any, counter: Counter, model: str, dimensions: int | None, top_k: int,
                 max_tokens: int, min_similarity: float = 0.0) -> None:
        self.min_similarity = min_similarity
        self.embedder = Embedder(client, model, dimensions)
        self.counter, self.top_k, self.max_tokens = counter, top_k, max_tokens
        self.redis = binary_twin(connect(None))
        self._folders: dict[Path, Knowledge] = {}
        self._reading = asyncio.Lock()  # cases run concurrently: a folder is read once
        self.embedded_tokens = 0  # what reading the folders cost

    async def for_folder(self, folder: Path) -> Knowledge:
        folder = folder.resolve()
        async with self._reading:
            return self._folders.get(folder) or await self._read(folder)

    async def _read(self, folder: Path) -> Knowledge:
        if folder not in self._folders:
            keys = KnowledgeKeys("eval:" + hashlib.sha256(str(folder).encode()).hexdigest()[:12])
            library = Library(self.redis, keys, self.embedder, self.counter)
            pool = ExtractionPool()
            try:
                for path in readable_files(folder):
                    name = path.relative_to(folder).as_posix()
                    document = await read_file(path, pool, MAX_FILE_BYTES, name)
                    added = await library.add(location=name, name=name, link="", text=document.text, audience=EVERYONE)
                    self.embedded_tokens += added.tokens
            finally:
                await pool.close()
            self._folders[folder] = Knowledge(redis=self.redis, catalog=Catalog(self.redis, keys, every=0.0),
                                              embedder=self.embedder, counter=self.counter,
                                              local=LocalIndex(self.redis, keys), top_k=self.top_k,
                                              max_tokens=self.max_tokens, min_similarity=self.min_similarity)
        return self._folders[folder]

    async def search(self, folder: Path, question: str) -> Found:
        """The passages for ``question`` (raises ModelError when the embeddings model fails)."""
        return await (await self.for_folder(folder)).find(question, "", "")

    async def close(self) -> None:
        await self.redis.aclose()
