"""A shared file's content as the model takes it: text, or a scaled-down image.  Pure and
synchronous CPU work, always within :class:`Limits`; it runs in the file worker process
(``bot/files/worker.py``), never in the bot's own.  pypdf reads PDFs, python-docx Word
files, Pillow images, charset-normalizer tells a text file's encoding."""

from __future__ import annotations

import io
import math
import zipfile
from collections import deque
from dataclasses import dataclass
from pathlib import PurePath
from typing import Iterable, Iterator

PDF, DOCX, TEXT, IMAGE = "pdf", "docx", "text", "image"
MAX_IMAGE_SIDE = 2048
IMAGE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
IMAGE_TYPES = {"png", "jpg", "jpeg", "gif", "webp"}
TEXT_EXTENSIONS = {
    "txt", "text", "md", "markdown", "rst", "csv", "tsv", "json", "jsonl", "yaml", "yml", "toml", "ini", "cfg", "conf",
    "xml", "html", "htm", "log", "sql", "py", "js", "ts", "tsx", "jsx", "java", "kt", "go", "rs", "rb", "php", "c", "h",
    "cc", "cpp", "hpp", "cs", "swift", "m", "scala", "sh", "bash", "zsh", "ps1", "r", "lua", "pl", "dart", "vue",
    "svelte", "css", "scss", "less", "gradle", "tf", "hcl", "proto", "graphql", "env", "dockerfile", "makefile",
}
# Slack's own file types that are text: snippets (their language), posts and canvases.
SLACK_TEXT_TYPES = {"text", "markdown", "post", "space", "quip", "canvas", "javascript", "python", "shell", "json", "csv",
                    "yaml", "xml", "html", "sql", "java", "go", "rust", "ruby", "php", "c", "cpp", "csharp", "swift",
                    "kotlin", "typescript", "diff", "plain_text", "auto"}
TEXT_MIMETYPES = ("text/", "application/json", "application/xml", "application/x-yaml", "application/javascript",
                  "application/vnd.slack-docs", "application/csv")
TOO_LARGE = "it is too large to read"
LIKELIEST_TIES = ("cp1252", "latin_1")
OMITTED = "[… {count} left out: only the start and the end are read …]"


class Unreadable(Exception):
    """The file cannot be read; the message completes "I can't read <name>: …"."""


@dataclass(frozen=True)
class Limits:
    """What reading one file may take, besides the worker's memory and time."""

    max_chars: int = 64_000  # text kept: the head and the tail (the token cap keeps less)
    max_pages: int = 300  # PDF pages read at most (head pages, then tail pages)
    max_expanded_bytes: int = 100 * 1024 * 1024  # a zip-based file (.docx) unpacked
    max_image_pixels: int = 40_000_000  # width × height, from the header, before decoding


@dataclass(frozen=True)
class Extracted:
    name: str
    text: str | None = None  # what the model reads
    image: bytes | None = None  # or an image, scaled to at most MAX_IMAGE_SIDE
    image_type: str = ""
    width: int = 0
    height: int = 0


def kind_of(name: str, mimetype: str, filetype: str) -> str | None:
    """What kind of file this is by its name, MIME type and Slack's file type; None: one we do not read."""
    extension = PurePath(name.lower()).suffix.lstrip(".") or name.lower()
    filetype = filetype.lower()
    if extension == "pdf" or mimetype == "application/pdf" or filetype == "pdf":
        return PDF
    if extension == "docx" or filetype == "docx" or mimetype.endswith("wordprocessingml.document"):
        return DOCX
    if extension in IMAGE_TYPES or filetype in IMAGE_TYPES or mimetype.startswith("image/") and filetype != "svg":
        return IMAGE
    if extension in TEXT_EXTENSIONS or filetype in SLACK_TEXT_TYPES or mimetype.startswith(TEXT_MIMETYPES):
        return TEXT
    return None


def extract(name: str, kind: str, data: bytes, limits: Limits = Limits()) -> Extracted:
    """Raises Unreadable."""
    if kind == PDF:
        return Extracted(name, text=pdf_text(data, limits))
    if kind == DOCX:
        return Extracted(name, text=docx_text(data, limits))
    if kind == IMAGE:
        image, image_type, width, height = scaled_image(data, limits.max_image_pixels)
        return Extracted(name, image=image, image_type=image_type, width=width, height=height)
    return Extracted(name, text=head_and_tail(decoded_text(data), limits.max_chars))


class HeadTail:
    """Parts kept from the start until half the budget, and the latest parts for the other half."""

    def __init__(self, max_chars: int, unit: str = "parts") -> None:
        self.half = max(1, max_chars // 2)
        self.unit = unit
        self.head: list[str] = []
        self.head_chars = 0
        self.tail: deque[str] = deque()
        self.tail_chars = 0
        self.dropped = 0

    @property
    def head_full(self) -> bool:
        return self.head_chars >= self.half

    def add(self, part: str) -> None:
        if not self.head_full:
            self.head.append(part)
            self.head_chars += len(part)
            return
        self.tail.append(part)
        self.tail_chars += len(part)
        while len(self.tail) > 1 and self.tail_chars - len(self.tail[0]) >= self.half:
            self.tail_chars -= len(self.tail.popleft())
            self.dropped += 1

    def parts(self, skipped: int = 0) -> list[str]:
        left_out = self.dropped + skipped
        middle = [OMITTED.format(count=f"{left_out:,} {self.unit}")] if left_out else []
        return [*self.head, *middle, *self.tail]


def head_and_tail(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    half = max_chars // 2
    return text[:half] + "\n\n" + OMITTED.format(count=f"{len(text) - 2 * half:,} characters") + "\n\n" + text[-half:]


def pdf_text(data: bytes, limits: Limits = Limits()) -> str:
    """The text of the pages the budget can keep: pages from the start until half of it,
    then pages from the end, at most ``max_pages`` read in all."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):  # many "encrypted" PDFs only restrict printing: an empty password opens them
                    raise Unreadable("it is protected by a password")
            except (NotImplementedError, PdfReadError):
                raise Unreadable("it is protected by a password") from None
        head, tail, skipped = _pdf_pages(reader, limits)
    except (Unreadable, MemoryError):
        raise
    except Exception:  # pypdf raises many kinds on a damaged file
        raise Unreadable("the PDF is damaged") from None
    parts = [*head, *([OMITTED.format(count=f"{skipped:,} pages")] if skipped else []), *tail]
    if not head and not tail:
        raise Unreadable("it has no text layer (a scan?); share the pages as images instead")
    return "\n\n".join(parts)


def _pdf_pages(reader: "object", limits: Limits) -> tuple[list[str], list[str], int]:
    pages = reader.pages  # type: ignore[attr-defined]
    count = len(pages)
    half = max(1, limits.max_chars // 2)
    head: list[str] = []
    chars = read = 0
    first = 0
    head_pages = limits.max_pages - limits.max_pages // 2 if count > limits.max_pages else count  # the rest: the tail's
    while first < count and chars < half and read < head_pages:
        text = (pages[first].extract_text() or "").strip()
        if text:
            head.append(f"[page {first + 1}]\n{text}")
            chars += len(text)
        first += 1
        read += 1
    tail: list[str] = []
    chars = 0
    last = count - 1
    while last >= first and chars < half and read < limits.max_pages:
        text = (pages[last].extract_text() or "").strip()
        if text:
            tail.insert(0, f"[page {last + 1}]\n{text}")
            chars += len(text)
        last -= 1
        read += 1
    return head, tail, last - first + 1


def docx_text(data: bytes, limits: Limits = Limits()) -> str:
    """Headers, the body in document order (paragraphs and tables, nested tables in their
    cells), then footers."""
    import docx

    check_expanded_size(data, limits.max_expanded_bytes)
    try:
        document = docx.Document(io.BytesIO(data))
        kept = HeadTail(limits.max_chars, "paragraphs")
        for part in _docx_parts(document):
            kept.add(part)
        text = "\n".join(kept.parts()).strip()
    except (Unreadable, MemoryError):
        raise
    except Exception as exc:
        reason = str(exc).lower()
        if "memory" in reason or "unknown error" in reason:  # what libxml2 says when the worker's limit is hit
            raise MemoryError from None
        raise Unreadable("the Word file is damaged") from None
    if not text:
        raise Unreadable("it has no text")
    return text


def _docx_parts(document: "object") -> Iterator[str]:
    seen: set[str] = set()
    sections = list(document.sections)  # type: ignore[attr-defined]
    for section in sections:
        yield from _once(seen, "header", _blocks(section.header.iter_inner_content()))
    yield from _blocks(document.iter_inner_content())  # type: ignore[attr-defined]
    for section in sections:
        yield from _once(seen, "footer", _blocks(section.footer.iter_inner_content()))


def _once(seen: set[str], label: str, parts: Iterable[str]) -> Iterator[str]:
    """A header or footer repeated by every section is read once."""
    text = "\n".join(parts).strip()
    if text and text not in seen:
        seen.add(text)
        yield f"[{label}]\n{text}\n[end of {label}]"


def _blocks(blocks: Iterable[object]) -> Iterator[str]:
    from docx.table import Table

    for block in blocks:
        if isinstance(block, Table):
            yield from _table_rows(block)
        else:
            text = getattr(block, "text", "")
            if text.strip():
                yield text


def _table_rows(table: "object") -> Iterator[str]:
    for row in table.rows:  # type: ignore[attr-defined]
        cells = []
        for cell in row.cells:
            cells.append(" / ".join(line.replace("\n", " ") for line in _blocks(cell.iter_inner_content())))
        yield "| " + " | ".join(cells) + " |"


def check_expanded_size(data: bytes, max_bytes: int) -> None:
    """A zip-based file whose parts would unpack past ``max_bytes`` is not opened (the sizes
    come from the zip's directory; zipfile stops a part at its declared size)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise Unreadable("the Word file is damaged") from None
    if expanded > max_bytes:
        raise Unreadable(TOO_LARGE)


def decoded_text(data: bytes) -> str:
    """The text in the encoding charset-normalizer finds (a byte-order mark first)."""
    from charset_normalizer import from_bytes

    if not data.strip():
        return ""
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                break
    try:
        return _text_only(data.decode("utf-8"))  # most files: no guessing needed
    except UnicodeDecodeError:
        pass
    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise Unreadable("it is not a text file")
    # A short text fits several single-byte encodings equally well: Western European is the likeliest.
    tied = [m for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)]
    return _text_only(str(next((m for m in tied if m.encoding in LIKELIEST_TIES), best)))


def _text_only(text: str) -> str:
    """Text as people write it: control characters (besides tabs, line and page breaks) mean binary."""
    sample = text[:65536]
    controls = sum(1 for c in sample if c < " " and c not in "\t\n\r\f")
    if "\x00" in sample or controls > len(sample) // 100:
        raise Unreadable("it is not a text file")
    return text


def scaled_image(data: bytes, max_pixels: int = Limits.max_image_pixels) -> tuple[bytes, str, int, int]:
    """The image re-encoded at most MAX_IMAGE_SIDE on its longer side (first frame of an
    animation).  Its size is checked from the header before anything is decoded; a JPEG is
    decoded at a reduced scale where that is enough."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow's own check, at twice this, as a second line
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in IMAGE_FORMATS:
                raise Unreadable("it is not an image format I read (PNG, JPEG, GIF, WebP)")
            width, height = image.size
            if width * height > max_pixels:
                raise Unreadable(TOO_LARGE)
            image.seek(0)
            image.draft("RGB", (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))  # JPEG: decode at 1/2, 1/4, 1/8 scale
            alpha = image.mode in ("RGBA", "LA", "P", "PA")
            image.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))  # scaled before any conversion
            frame = image.convert("RGBA" if alpha else "RGB")
    except (Unreadable, MemoryError):
        raise
    except Image.DecompressionBombError:
        raise Unreadable(TOO_LARGE) from None
    except (UnidentifiedImageError, OSError, ValueError, EOFError, SyntaxError):
        raise Unreadable("the image is damaged") from None
    out = io.BytesIO()
    if frame.mode == "RGBA":
        frame.save(out, "PNG", optimize=True)
        image_type = "image/png"
    else:
        frame.save(out, "JPEG", quality=85)
        image_type = "image/jpeg"
    return out.getvalue(), image_type, frame.width, frame.height


def image_tokens(width: int, height: int) -> int:
    """What an image costs at high detail (OpenAI's rule: fit 2048, shorter side 768, 170 per 512-px tile, 85 more)."""
    if not width or not height:
        return 85
    scale = min(1.0, 2048 / max(width, height))
    width, height = width * scale, height * scale
    scale = min(1.0, 768 / min(width, height))
    width, height = width * scale, height * scale
    return 85 + 170 * math.ceil(width / 512) * math.ceil(height / 512)
