"""How team knowledge lies in Redis, the same for both ways of searching it.

Under the deployment's key base (REDIS_KEY_PREFIX and the schema version, ``<base>`` here):

- ``<base>:{knowledge}:sources``: a hash, source id -> the source's record (JSON: name, link, audience,
  content hash, passages, who added it and when);
- ``<base>:{knowledge}:p:<source id>:<n>``: a hash per passage: ``text`` (what is searched: title,
  headings, text), ``audience`` (a tag), ``source``, ``hash`` (of the text) and ``vector``
  (float32 bytes), the fields Redis's query engine indexes (bot/knowledge/engine.py);
- ``<base>:{knowledge}:version``: counts changes, so every process knows when to look again;
- ``<base>:{knowledge}:embedding``: the model and dimensions the vectors were made with.

One hash tag: on a Redis Cluster every key is in one slot.  Pure."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import numpy as np

EVERYONE = "all"
_ID = re.compile(r"^[A-Z0-9]{2,32}$")


class KnowledgeKeys:
    def __init__(self, base: str) -> None:  # bot.memory.conversation.Keys.base
        self.prefix = f"{base}:{{knowledge}}:p:"  # of the passages
        self.sources = f"{base}:{{knowledge}}:sources"
        self.version = f"{base}:{{knowledge}}:version"
        self.embedding = f"{base}:{{knowledge}}:embedding"
        self.index = f"{base}:knowledge"  # the query engine's index (FT.*)

    def lock(self, source_id: str) -> str:
        """Held while a source is being added: two adds of one source never interleave."""
        return f"{self.sources}:lock:{source_id}"

    def passage(self, source_id: str, n: int) -> str:
        return f"{self.prefix}{source_id}:{n}"


def team_tag(team: str) -> str:
    return f"team_{team}"


def channel_tag(channel: str) -> str:
    return f"chan_{channel}"


def audience_tag(*, team: str = "", channel: str = "") -> str:
    """The one audience a source is for: a channel (its answers only), a workspace, or everyone."""
    for value in (channel, team):
        if value and not _ID.match(value):
            raise ValueError(f"{value!r} is not a Slack id (like C0123ABCD or T0123ABCD)")
    return channel_tag(channel) if channel else team_tag(team) if team else EVERYONE


def audiences_for(team: str, channel: str) -> tuple[str, ...]:
    """The tags whose passages an answer in ``channel`` of ``team`` may use."""
    return tuple(tag for tag in (EVERYONE, team_tag(team) if team else "", channel_tag(channel) if channel else "") if tag)


def describe_audience(tag: str) -> str:
    if tag == EVERYONE:
        return "everyone"
    kind, _, value = tag.partition("_")
    return f"channel {value}" if kind == "chan" else f"workspace {value}"


def made_by(made_with: str, model: str, dimensions: int | None) -> bool:
    """Whether vectors made with ``made_with`` ("model:dimensions") are what ``model`` (at
    ``dimensions``, None: its own length) makes now."""
    made_model, _, made_dimensions = made_with.rpartition(":")
    return made_model == model and (not dimensions or made_dimensions == str(dimensions))


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def source_id(location: str, audience: str) -> str:
    """One source per place and audience: adding it again replaces it."""
    return hashlib.sha256(f"{audience}\n{location}".encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class SourceRecord:
    id: str
    name: str  # a file name, a page's title, "a thread in #name"
    location: str  # the path, URL or Slack link it was read from
    link: str  # what a citation links to ("": a file, named only)
    audience: str  # a tag of audience_tag()
    hash: str  # of its whole text: the same text again is not read twice
    passages: int
    added_by: str = ""
    added_at: float = 0.0

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str | bytes) -> "SourceRecord":
        data = json.loads(raw)
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


@dataclass(frozen=True)
class Passage:
    """A passage found for a question: what the request shows, what the citation names."""

    key: str
    source: str  # its source's id
    name: str
    link: str
    text: str
    score: float = 0.0


def packed(vector: Sequence[float] | np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def unpacked(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype=np.float32)


def normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def fused(rankings: Iterable[Sequence[str]], k: int, depth: int = 60) -> list[tuple[str, float]]:
    """Reciprocal rank fusion of several rankings (vector and keyword): the ``k`` best keys with
    their fused scores.  Robust where the two kinds of score are not comparable."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking):
            scores[key] = scores.get(key, 0.0) + 1.0 / (depth + rank + 1)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
