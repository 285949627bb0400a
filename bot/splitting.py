"""Pure function splitting a long answer into Slack-sized messages.

Chunks end at paragraph or line boundaries where possible, never lose a
character, and a code fence cut between two chunks is closed at the end of one
and reopened at the start of the next.
"""

from __future__ import annotations

# chat.update has been seen to fail with msg_too_long near 4,000 bytes.
MAX_MESSAGE_BYTES = 3800
_FENCE = "```"


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut_point(text: str, max_bytes: int) -> int:
    """Index at which to cut ``text`` so the head fits ``max_bytes``, preferring
    a paragraph break, then a line break, then a space."""
    # Largest character prefix that fits.
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _size(text[:mid]) <= max_bytes:
            lo = mid
        else:
            hi = mid - 1
    limit = max(lo, 1)
    for separator in ("\n\n", "\n", " "):
        at = text.rfind(separator, 0, limit)
        if at > limit // 3:
            return at + len(separator)
    return limit


def _open_fence_after(text: str, opening: str | None) -> str | None:
    """The fence line still open at the end of ``text`` (given the one open at its start)."""
    current = opening
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith(_FENCE):
            current = None if current is not None else stripped
    return current


def split_message(text: str, max_bytes: int = MAX_MESSAGE_BYTES) -> list[str]:
    """Split ``text`` into chunks of at most ``max_bytes`` UTF-8 bytes each."""
    if _size(text) <= max_bytes:
        return [text]
    reserve = 2 * (len(_FENCE) + 32)  # room to close and reopen a fence
    chunks: list[str] = []
    rest = text
    open_fence: str | None = None
    while rest:
        prefix = open_fence + "\n" if open_fence else ""
        if _size(prefix + rest) <= max_bytes:
            chunks.append(prefix + rest)
            break
        cut = _cut_point(rest, max_bytes - _size(prefix) - reserve)
        head, rest = rest[:cut], rest[cut:]
        still_open = _open_fence_after(head, open_fence)
        chunk = prefix + head
        if still_open:
            chunk += _FENCE if chunk.endswith("\n") else "\n" + _FENCE
        chunks.append(chunk)
        open_fence = still_open
    return chunks
