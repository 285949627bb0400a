"""The fake model's embeddings: deterministic vectors in which texts sharing words (after a
crude stemming) point the same way, so retrieval can be tested, and recall measured, with
no real model.  Each word is hashed to a dimension and a sign (the hashing trick)."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import numpy as np

DEFAULT_DIMENSIONS = 1536  # text-embedding-3-small's own
_WORD = re.compile(r"[a-z0-9]+")
_ENDINGS = ("ing", "ed", "es", "s")


def stem(word: str) -> str:
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


def embedding(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> np.ndarray:
    vector = np.zeros(dimensions, dtype=np.float32)
    for word in _WORD.findall(text.lower()):
        if len(word) < 3:
            continue
        digest = hashlib.blake2b(stem(word).encode(), digest_size=8).digest()
        slot = int.from_bytes(digest[:4], "little") % dimensions
        vector[slot] += 1.0 if digest[4] & 1 else -1.0
    norm = float(np.linalg.norm(vector))
    if norm == 0:
        vector[0] = 1.0
        return vector
    return vector / norm


def embeddings_response(body: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/embeddings`` as OpenAI answers it (``encoding_format`` float or base64)."""
    texts = body.get("input")
    texts = [texts] if isinstance(texts, str) else list(texts or [])
    dimensions = int(body.get("dimensions") or DEFAULT_DIMENSIONS)
    data = []
    for n, text in enumerate(texts):
        vector = embedding(str(text), dimensions)
        encoded: Any = base64.b64encode(vector.tobytes()).decode() if body.get("encoding_format") == "base64" \
            else [float(x) for x in vector]
        data.append({"object": "embedding", "index": n, "embedding": encoded})
    tokens = sum(max(1, len(str(text).split())) for text in texts)
    return {"object": "list", "data": data, "model": body.get("model"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
