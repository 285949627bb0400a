"""A Markdown table in an answer as Slack's ``table`` block (pure).

The first table of a message that fits one block (Slack's limits: 100 rows, the header
included, of at most 20 cells) becomes a table block between the Markdown before and after
it: its first row is the header, a cell with emphasis, code or a link is rich text and any
other plain text, and the separator row's colons set each column's alignment.  A larger
table, a second one, and a table in a message Slack refuses it in stay in the Markdown
(where Slack shows mrkdwn, they become code blocks: bot/slack/mrkdwn.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.slack.mrkdwn import next_fence, table_end

MAX_ROWS = 100  # header included
MAX_COLUMNS = 20
MAX_CELL_CHARS = 2_000

# Inline pieces a cell may hold, in the order they are recognised.
_PIECE = re.compile(
    r"`(?P<code>[^`]+)`"
    r"|\[(?P<label>[^\]\n]+)\]\((?P<url>https?://[^()\s]+)\)"
    r"|(?:\*\*|__)(?P<bold>(?=\S).+?(?<=\S))(?:\*\*|__)"
    r"|~~(?P<strike>(?=\S).+?(?<=\S))~~"
    r"|(?<![\w*])[*_](?P<italic>(?=[^\s*_]).+?(?<=[^\s*_]))[*_](?![\w*])"
)
STYLES = {"code": "code", "bold": "bold", "strike": "strike", "italic": "italic"}


@dataclass(frozen=True)
class TableSplit:
    before: str
    block: dict[str, Any]
    after: str


def split_table(text: str) -> TableSplit | None:
    """The text around its first table that fits one block, and that table as a block."""
    lines = text.split("\n")
    fence: str | None = None
    n = 0
    while n < len(lines):
        marks, after = next_fence(lines[n], fence)
        end = table_end(lines, n) if fence is None and not marks else 0
        fence = after
        if end:
            block = table_block(lines[n], lines[n + 1], lines[n + 2 : end])
            if block is not None:
                return TableSplit("\n".join(lines[:n]).rstrip(), block, "\n".join(lines[end:]).strip("\n"))
        n = end or n + 1
    return None


def cells_of(row: str) -> list[str]:
    """A table row's cells (``\\|`` is a pipe inside a cell)."""
    inner = row.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def table_block(header: str, rule: str, rows: list[str]) -> dict[str, Any] | None:
    """The table block, or None when the table exceeds what one block holds."""
    head = cells_of(header)
    body = [cells_of(row) for row in rows]
    width = len(head)
    if width > MAX_COLUMNS or 1 + len(body) > MAX_ROWS:
        return None
    grid = [head, *([*row[:width], *[""] * (width - len(row))] for row in body)]
    if any(len(cell) > MAX_CELL_CHARS for row in grid for cell in row):
        return None
    block: dict[str, Any] = {"type": "table", "rows": [[cell_of(cell) for cell in row] for row in grid]}
    aligns = [_align(spec) for spec in cells_of(rule)[:width]]
    if any(align != "left" for align in aligns):
        block["column_settings"] = [{"align": align} for align in aligns]
    return block


def _align(spec: str) -> str:
    spec = spec.strip()
    if spec.startswith(":") and spec.endswith(":"):
        return "center"
    return "right" if spec.endswith(":") else "left"


def cell_of(text: str) -> dict[str, Any]:
    """One cell: rich text when it has emphasis, code or a link; else plain text."""
    elements: list[dict[str, Any]] = []
    position = 0
    for match in _PIECE.finditer(text):
        if match.start() > position:
            elements.append({"type": "text", "text": text[position : match.start()]})
        if match.group("url"):
            elements.append({"type": "link", "url": match.group("url"), "text": match.group("label")})
        else:
            kind = next(name for name in STYLES if match.group(name))
            elements.append({"type": "text", "text": match.group(kind), "style": {STYLES[kind]: True}})
        position = match.end()
    if not elements:
        return {"type": "raw_text", "text": text or " "}
    if position < len(text):
        elements.append({"type": "text", "text": text[position:]})
    return {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": elements}]}
