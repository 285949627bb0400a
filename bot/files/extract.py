"""A shared file's content as the model takes it: text, or a scaled-down image.  Pure and
synchronous (CPU work: callers run it off the event loop).  pypdf reads PDFs,
python-docx Word files, Pillow images."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import PurePath

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


class Unreadable(Exception):
    """The file cannot be read; the message completes "I can't read <name>: …"."""


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


def extract(name: str, kind: str, data: bytes) -> Extracted:
    """Raises Unreadable."""
    if kind == PDF:
        return Extracted(name, text=pdf_text(data))
    if kind == DOCX:
        return Extracted(name, text=docx_text(data))
    if kind == IMAGE:
        image, image_type, width, height = scaled_image(data)
        return Extracted(name, image=image, image_type=image_type, width=width, height=height)
    return Extracted(name, text=decoded_text(data))


def pdf_text(data: bytes) -> str:
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
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except Unreadable:
        raise
    except Exception:  # pypdf raises many kinds on a damaged file
        raise Unreadable("the PDF is damaged") from None
    text = "\n\n".join(f"[page {n}]\n{page}" for n, page in enumerate(pages, start=1) if page)
    if not text:
        raise Unreadable("it has no text layer (a scan?); share the pages as images instead")
    return text


def docx_text(data: bytes) -> str:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception:
        raise Unreadable("the Word file is damaged") from None
    parts = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text.strip() for cell in row.cells))
    text = "\n".join(parts).strip()
    if not text:
        raise Unreadable("it has no text")
    return text


def decoded_text(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise Unreadable("it is not a text file")
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def scaled_image(data: bytes) -> tuple[bytes, str, int, int]:
    """The image re-encoded at most MAX_IMAGE_SIDE on its longer side (first frame of an animation)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in IMAGE_FORMATS:
                raise Unreadable("it is not an image format I read (PNG, JPEG, GIF, WebP)")
            image.seek(0)
            frame = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
    except Unreadable:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        raise Unreadable("the image is damaged or too large") from None
    frame.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
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
