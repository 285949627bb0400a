"""A source's text cut into passages of at most a few hundred tokens, along its headings and
paragraphs: a passage never spans two sections, a paragraph is cut only when it alone is
too long (at line, then sentence, then token boundaries), and each passage carries the path
of headings above it ("Runbook › Deploys › Rolling back"), which is embedded with it.  Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, Protocol

CHUNK_TOKENS = 350  # a passage's size at most: five fit KNOWLEDGE_MAX_TOKENS (1,500) with their labels
HEADING_SEPARATOR = " › "
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class Counter(Protocol):
    def count_text(self, text: str) -> int: ...

    def shorten(self, text: str, max_tokens: int, marker: str = ...) -> str: ...


@dataclass(frozen=True)
class Chunk:
    heading: str  # the path of headings above it ("" at the top)
    text: str

    def embedded(self, title: str) -> str:
        """What is embedded and searched: the source's title and headings, then the text."""
        path = HEADING_SEPARATOR.join(part for part in (title, self.heading) if part)
        return f"{path}\n\n{self.text}" if path else self.text


def sections(text: str) -> Iterator[tuple[str, list[str]]]:
    """(heading path, paragraphs) for each section of a Markdown-like text."""
    path: list[tuple[int, str]] = []
    paragraphs: list[str] = []
    current: list[str] = []
    in_fence = False

    def heading() -> str:
        return HEADING_SEPARATOR.join(title for _, title in path)

    for line in text.replace("\r\n", "\n").split("\n"):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        found = None if in_fence else _HEADING.match(line)
        if found is not None:
            if current:
                paragraphs.append("\n".join(current))
                current = []
            if paragraphs:
                yield heading(), paragraphs
                paragraphs = []
            level = len(found.group(1))
            path = [(lvl, title) for lvl, title in path if lvl < level] + [(level, found.group(2).strip())]
        elif not line.strip() and not in_fence:
            if current:
                paragraphs.append("\n".join(current))
                current = []
        else:
            current.append(line.rstrip())
    if current:
        paragraphs.append("\n".join(current))
    if paragraphs:
        yield heading(), paragraphs


def pieces(paragraph: str, counter: Counter, max_tokens: int) -> Iterator[tuple[str, int]]:
    """A paragraph as parts of at most ``max_tokens`` (itself when it fits), with their sizes."""
    tokens = counter.count_text(paragraph)
    if tokens <= max_tokens:
        yield paragraph, tokens
        return
    for separator, splitter in (("\n", lambda p: p.split("\n")), (" ", _SENTENCE_END.split)):
        parts = [part for part in splitter(paragraph) if part.strip()]
        if len(parts) > 1:
            yield from packed(parts, counter, max_tokens, separator)
            return
    rest = paragraph  # one very long "sentence": cut by tokens
    while rest:
        head = counter.shorten(rest, max_tokens, marker="")
        if not head or head == rest:
            yield rest, counter.count_text(rest)
            return
        yield head, counter.count_text(head)
        rest = rest[len(head):].lstrip()


def packed(parts: list[str], counter: Counter, max_tokens: int, separator: str) -> Iterator[tuple[str, int]]:
    """Consecutive parts joined while they fit ``max_tokens``."""
    group: list[str] = []
    size = 0
    for part in parts:
        for piece, tokens in pieces(part, counter, max_tokens):
            if group and size + tokens + 1 > max_tokens:
                yield separator.join(group), size
                group, size = [], 0
            group.append(piece)
            size += tokens + (1 if len(group) > 1 else 0)
    if group:
        yield separator.join(group), size


def chunk_text(text: str, counter: Counter, max_tokens: int = CHUNK_TOKENS) -> list[Chunk]:
    """The passages of a source's text, in order."""
    chunks: list[Chunk] = []
    for heading, paragraphs in sections(text):
        for body, _ in packed([p.strip("\n") for p in paragraphs if p.strip()], counter, max_tokens, "\n\n"):
            if body.strip():
                chunks.append(Chunk(heading, body.strip()))
    return chunks
