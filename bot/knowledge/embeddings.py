"""Embeddings through the OpenAI-compatible ``/v1/embeddings`` endpoint (``EMBEDDING_MODEL``,
``EMBEDDING_DIMENSIONS``), in batches, each within a time limit; vectors come back
normalised (cosine similarity is then a dot product) with the tokens the server counted."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import openai

from bot.knowledge.records import normalised
from bot.llm.errors import ModelError

log = logging.getLogger(__name__)

BATCH_INPUTS = 256  # inputs per request (OpenAI takes 2,048, and 300,000 tokens: 256 passages stay far below)
REQUEST_SECONDS = 30.0


@dataclass(frozen=True)
class Embedded:
    vectors: np.ndarray  # one normalised float32 row per text
    tokens: int


class Embedder:
    def __init__(self, client: Any, model: str, dimensions: int | None = None, *,
                 batch: int = BATCH_INPUTS, seconds: float = REQUEST_SECONDS) -> None:
        self.client, self.model, self.dimensions = client, model, dimensions
        self.batch, self.seconds = batch, seconds

    async def embed(self, texts: Sequence[str]) -> Embedded:
        """Raises ModelError (its kind safe to log) when the server does not answer well."""
        rows: list[np.ndarray] = []
        tokens = 0
        for start in range(0, len(texts), self.batch):
            part = [text or " " for text in texts[start:start + self.batch]]  # the API refuses an empty input
            vectors, used = await self._request(part)
            rows.append(vectors)
            tokens += used
        if not rows:
            return Embedded(np.zeros((0, self.dimensions or 0), dtype=np.float32), 0)
        return Embedded(np.vstack(rows), tokens)

    async def _request(self, texts: list[str]) -> tuple[np.ndarray, int]:
        extra = {"dimensions": self.dimensions} if self.dimensions else {}
        try:
            response = await asyncio.wait_for(
                self.client.embeddings.create(model=self.model, input=texts, **extra), self.seconds)
        except asyncio.TimeoutError:
            raise ModelError("embeddings timeout") from None
        except openai.APIStatusError as exc:
            raise ModelError(f"embeddings HTTP {exc.status_code}") from None
        except openai.APIError as exc:
            raise ModelError(f"embeddings {type(exc).__name__}") from None
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(texts):
            raise ModelError("embeddings: wrong number of vectors")
        vectors = np.asarray([item.embedding for item in data], dtype=np.float32)
        if vectors.ndim != 2 or (self.dimensions and vectors.shape[1] != self.dimensions):
            raise ModelError("embeddings: wrong length of vectors")
        usage = getattr(response, "usage", None)
        return normalised(vectors), int(getattr(usage, "prompt_tokens", 0) or 0)
