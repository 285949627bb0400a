"""Pure conversion of the Markdown models write into Slack's ``mrkdwn``.

Used where Slack has no Markdown-capable surface: notification fallbacks,
section blocks (App Home) and messages Slack refused as Markdown.

- ``**bold**``/``__bold__`` → ``*bold*``; ``*italic*``/``_italic_`` → ``_italic_``;
  ``~~strike~~`` → ``~strike~``; ``[text](url)`` and images → ``<url|text>``;
- headings → bold lines; ``-``/``*``/``+`` list items → ``•`` (nesting kept);
  numbered items and ``>`` block quotes stay as they are;
- code fences and inline code are left untouched inside (the fence's language
  is dropped: Slack would show it as code); tables become code blocks;
- ``&``, ``<`` and ``>`` are escaped, except in Slack's own markup
  (``<@U…>``, ``<#C…|name>``, ``<!here>``, ``<https://…|text>``) and the ``>``
  that starts a block quote.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_QUOTE = re.compile(r"^(\s*>+\s?)(.*)$")
TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")

# Inline pieces, in the order they are recognised.
_INLINE = re.compile(
    r"(?P<code>`+)(?P<code_text>.+?)(?P=code)"  # inline code: untouched
    r"|(?P<slack><(?:[@#!][^<>\s]*|(?:https?|mailto):[^<>\s]*)(?:\|[^<>]*)?>)"  # Slack's own markup
    r"|!?\[(?P<link_text>[^\]\n]*)\]\((?P<link_url>[^()\s]+(?:\([^()\s]*\))?[^()\s]*)(?:\s+\"[^\"]*\")?\)"  # [text](url)
)
_BOLD_ITALIC = re.compile(r"(\*\*\*|___)(?=\S)(.+?)(?<=\S)\1")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC_STAR = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_ITALIC_UNDERSCORE = re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_BOLD_MARK = "\x00"  # stands for a bold '*' while italics are converted


def next_fence(line: str, fence: str | None) -> tuple[bool, str | None]:
    """Whether ``line`` opens or closes a code fence (``fence``: the one open before it, if
    any), and the fence open after it."""
    match = _FENCE.match(line)
    if match is None:
        return False, fence
    mark = match.group(2)
    if fence is None:
        return True, mark
    if mark[0] == fence[0] and len(mark) >= len(fence) and not match.group(3).strip():
        return True, None
    return False, fence  # a fence-like line inside code is code


def table_end(lines: list[str], n: int) -> int:
    """Where the Markdown table starting at line ``n`` ends (exclusive); 0 when none starts there."""
    if not (TABLE_ROW.match(lines[n]) and n + 1 < len(lines) and TABLE_RULE.match(lines[n + 1])):
        return 0
    end = n + 2
    while end < len(lines) and TABLE_ROW.match(lines[end]):
        end += 1
    return end


def escape(text: str) -> str:
    """Escape the three characters Slack gives meaning to."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _emphasis(text: str) -> str:
    text = _BOLD_ITALIC.sub(lambda m: f"{_BOLD_MARK}_{m.group(2)}_{_BOLD_MARK}", text)
    text = _BOLD.sub(lambda m: f"{_BOLD_MARK}{m.group(2)}{_BOLD_MARK}", text)
    text = _ITALIC_STAR.sub(r"_\1_", text)
    text = _ITALIC_UNDERSCORE.sub(r"_\1_", text)
    text = _STRIKE.sub(r"~\1~", text)
    return text.replace(_BOLD_MARK, "*")


def inline(text: str) -> str:
    """Convert one line's inline Markdown."""
    out: list[str] = []
    position = 0
    for match in _INLINE.finditer(text):
        out.append(_emphasis(escape(text[position : match.start()])))
        if match.group("code"):
            out.append(match.group("code") + escape(match.group("code_text")) + match.group("code"))
        elif match.group("slack"):
            out.append(match.group("slack"))
        else:
            url = match.group("link_url").replace("|", "%7C")
            label = _emphasis(escape(match.group("link_text").replace("|", "/"))) or escape(url)
            out.append(f"<{escape(url)}|{label}>")
        position = match.end()
    out.append(_emphasis(escape(text[position:])))
    return "".join(out)


def _table(rows: list[str]) -> list[str]:
    """A Markdown table as an aligned code block."""
    cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in rows if not TABLE_RULE.match(row)]
    width = max(len(r) for r in cells)
    cells = [r + [""] * (width - len(r)) for r in cells]
    sizes = [max(len(r[i]) for r in cells) for i in range(width)]
    lines = ["  ".join(c.ljust(sizes[i]) for i, c in enumerate(r)).rstrip() for r in cells]
    return ["```", *(escape(line) for line in lines), "```"]


def _line(line: str) -> str:
    heading = _HEADING.match(line)
    if heading:
        return f"*{inline(heading.group(1))}*" if heading.group(1) else ""
    if _RULE.match(line):
        return "──────────"
    bullet = _BULLET.match(line)
    if bullet:
        depth = len(bullet.group(1).expandtabs(4)) // 2
        return "    " * depth + "• " + inline(bullet.group(2))
    quote = _QUOTE.match(line)
    if quote:
        return ">" + " " + inline(quote.group(2)) if quote.group(2) else ">"
    return inline(line)


def to_mrkdwn(markdown: str) -> str:
    """Slack ``mrkdwn`` for ``markdown``."""
    lines = markdown.split("\n")
    out: list[str] = []
    fence: str | None = None
    n = 0
    while n < len(lines):
        line = lines[n]
        marks, after = next_fence(line, fence)
        if fence is not None or marks:
            out.append("```" if marks else escape(line))
            fence = after
            n += 1
            continue
        end = table_end(lines, n)
        if end:
            out.extend(_table(lines[n:end]))
            n = end
            continue
        out.append(_line(line))
        n += 1
    if fence is not None:
        out.append("```")  # an answer cut inside a fence still renders as code
    return "\n".join(out)
