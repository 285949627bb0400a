"""Pure functions splitting a long answer into Slack-sized messages.

Chunks end at paragraph or line boundaries where possible and never lose a
character: the answer is cut into consecutive pieces, and a code fence that a
cut leaves open is closed at the end of its piece and reopened (with the same
language) at the start of the next.  A cut never falls inside a fence line.
"""

from __future__ import annotations

from dataclasses import dataclass

# chat.update has been seen to fail with msg_too_long near 4,000 bytes
# (a markdown block holds 12,000 characters; this is the tighter limit).
MAX_MESSAGE_BYTES = 3800
FENCE = "```"
MIN_MESSAGE_BYTES = 256  # room for a reopened fence, its closing and some text
MAX_REOPEN_CHARS = 32  # a reopened fence keeps at most this much of its opening line
_CLOSE = "\n" + FENCE


@dataclass(frozen=True)
class Piece:
    """One message: ``reopen + body + close``; the bodies joined are the whole text."""

    body: str
    reopen: str = ""
    close: str = ""

    @property
    def text(self) -> str:
        return self.reopen + self.body + self.close


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def is_fence_line(line: str) -> bool:
    return line.lstrip().startswith(FENCE)


def open_fence_after(text: str, opening: str | None = None) -> str | None:
    """The fence line still open at the end of ``text`` (given the one open at its start)."""
    current = opening
    for line in text.split("\n"):
        if is_fence_line(line):
            current = None if current is not None else line.strip()[: MAX_REOPEN_CHARS]
    return current


def fitting_prefix(text: str, max_bytes: int) -> int:
    """Length of the longest character prefix of ``text`` within ``max_bytes``."""
    lo, hi = 0, min(len(text), max_bytes)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _size(text[:mid]) <= max_bytes:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _breaks_a_fence(text: str, at: int) -> bool:
    """Whether cutting ``text`` at ``at`` would split a fence line, or make the
    rest of a line look like one at the start of the next message."""
    start = text.rfind("\n", 0, at) + 1
    if start == at:
        return False
    end = text.find("\n", at)
    end = len(text) if end == -1 else end
    return is_fence_line(text[start:end]) or is_fence_line(text[at:end])


def _cut_point(text: str, max_bytes: int) -> int:
    """Where to cut ``text`` so the head fits ``max_bytes``: after a paragraph
    break, else a line break, else a space, else anywhere outside a fence line."""
    limit = max(fitting_prefix(text, max_bytes), 1)
    for separator in ("\n\n", "\n", " "):
        at = text.rfind(separator, 0, limit)
        if at > limit // 3 and not _breaks_a_fence(text, at + len(separator)):
            return at + len(separator)
    for at in range(limit, 0, -1):
        if not _breaks_a_fence(text, at):
            return at
    return limit  # one fence line longer than a whole message: cut it anyway


def split_pieces(
    text: str, max_bytes: int = MAX_MESSAGE_BYTES, *, open_fence: str | None = None, max_pieces: int | None = None
) -> list[Piece]:
    """Cut ``text`` into pieces whose messages fit ``max_bytes`` UTF-8 bytes each
    (``open_fence``: the fence line already open where ``text`` starts, if any)."""
    if max_bytes < MIN_MESSAGE_BYTES:
        raise ValueError(f"max_bytes must be at least {MIN_MESSAGE_BYTES}")
    if open_fence is None and _size(text) <= max_bytes:
        return [Piece(text)]
    pieces: list[Piece] = []
    rest = text
    while rest and (max_pieces is None or len(pieces) < max_pieces):
        reopen = open_fence + "\n" if open_fence else ""
        if _size(reopen + rest) <= max_bytes:
            pieces.append(Piece(rest, reopen))
            break
        cut = _cut_point(rest, max_bytes - _size(reopen) - _size(_CLOSE))
        body, rest = rest[:cut], rest[cut:]
        still_open = open_fence_after(body, open_fence)
        close = "" if not still_open else FENCE if body.endswith("\n") else _CLOSE
        pieces.append(Piece(body, reopen, close))
        open_fence = still_open
    return pieces


def split_message(text: str, max_bytes: int = MAX_MESSAGE_BYTES) -> list[str]:
    """Split ``text`` into messages of at most ``max_bytes`` UTF-8 bytes each."""
    return [piece.text for piece in split_pieces(text, max_bytes)]


def first_message(text: str, max_bytes: int = MAX_MESSAGE_BYTES) -> str:
    """The first message ``split_message`` would make, without splitting the rest."""
    return split_pieces(text, max_bytes, max_pieces=1)[0].text


def continue_after(shown: str, text: str, max_bytes: int = MAX_MESSAGE_BYTES) -> tuple[str, list[str]]:
    """``text`` continued after the prefix ``shown`` already in one message: what
    closes that message (a fence left open), and the follow-up messages."""
    if not text.startswith(shown):
        raise ValueError("shown must be a prefix of text")
    open_fence = open_fence_after(shown)
    closing = "" if open_fence is None else FENCE if shown.endswith("\n") else _CLOSE
    rest = text[len(shown) :]
    if not rest:
        return closing, []
    return closing, [piece.text for piece in split_pieces(rest, max_bytes, open_fence=open_fence)]
