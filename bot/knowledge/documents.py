"""Reading a source an operator adds: a file, every readable file of a folder, or a web page,
as text with its headings.  PDF, Word and text files go through the file worker's extractors
(bot/files/extract.py, in its memory- and time-limited process); HTML becomes Markdown-like
text (its headings kept, scripts, styles and navigation dropped) with the standard library's
parser; a page is fetched within a size and a time limit."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterator

import aiohttp

from bot.files.extract import IMAGE, TEXT, Unreadable, kind_of

FETCH_SECONDS = 30.0
_SPACES = re.compile(r"\s+")
HTML_TYPES = ("text/html", "application/xhtml+xml")
_SKIPPED = {"script", "style", "nav", "header", "footer", "noscript", "svg", "template"}
_BLOCKS = {"p", "div", "li", "tr", "br", "pre", "blockquote", "section", "article", "table", "ul", "ol", "dd", "dt"}


@dataclass(frozen=True)
class Document:
    location: str  # what identifies it: an absolute path or the URL
    name: str
    link: str  # what a citation links to ("" for a file)
    text: str


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in _SKIPPED:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in _BLOCKS:
            self.parts.append("\n\n" if tag != "br" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif (len(tag) == 2 and tag[0] == "h" and tag[1] in "123456") or tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.parts.append(_SPACES.sub(" ", data))  # inline text keeps one space at its edges


def html_text(html: str) -> tuple[str, str]:
    """An HTML page's (title, text with Markdown headings).  Pure."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = [_SPACES.sub(" ", line).strip() for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return " ".join(parser.title.split()), text.strip()


def readable_files(folder: Path) -> Iterator[Path]:
    """The files under ``folder`` the extractors read (hidden files and folders skipped), in order."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts) \
                and kind_of(path.name, "", "") not in (None, IMAGE):
            yield path


async def read_file(path: Path, extractor: Any, max_bytes: int, name: str = "") -> Document:
    """Raises Unreadable."""
    kind = kind_of(path.name, "", "")
    if kind is None or kind == IMAGE:
        raise Unreadable("it is not a document (PDF, Word, Markdown, text or HTML)")
    size = path.stat().st_size
    if size > max_bytes:
        raise Unreadable(f"it is larger than {max_bytes // (1024 * 1024)} MB (FILE_MAX_BYTES)")
    data = await asyncio.to_thread(path.read_bytes)
    extracted = await extractor.extract(path.name, kind, data)
    text = extracted.text or ""
    if path.suffix.lower() in (".html", ".htm"):
        title, text = html_text(text)
    return Document(str(path.resolve()), name or path.name, "", text)


async def fetch_page(url: str, session: aiohttp.ClientSession, extractor: Any, max_bytes: int) -> Document:
    """A web page (or a PDF, Word or text file at a URL).  Raises Unreadable."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=FETCH_SECONDS), allow_redirects=True) as got:
            if got.status != 200:
                raise Unreadable(f"the server answered HTTP {got.status}")
            body = await got.content.read(max_bytes + 1)
            mimetype = got.headers.get("Content-Type", "").split(";")[0].strip().lower()
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise Unreadable(f"it could not be fetched ({type(exc).__name__})") from None
    if len(body) > max_bytes:
        raise Unreadable(f"it is larger than {max_bytes // (1024 * 1024)} MB (FILE_MAX_BYTES)")
    leaf = url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    if mimetype in HTML_TYPES or (not mimetype and leaf.endswith((".html", ".htm"))):
        extracted = await extractor.extract("page.txt", TEXT, body)
        title, text = html_text(extracted.text or "")
        return Document(url, title or url, url, text)
    kind = kind_of(leaf, mimetype, "")
    if kind is None or kind == IMAGE:
        raise Unreadable(f"it is not a document ({mimetype or 'unknown type'})")
    extracted = await extractor.extract(leaf or "page", kind, body)
    return Document(url, leaf or url, url, extracted.text or "")
