"""Reading the files shared with a message: download with the bot's token (only over
https from Slack's own hosts), within the size and count limits; extract in a file worker
process (``bot/files/sandbox.py``); cut long text head and tail.  Anything unreadable
becomes one plain line."""

from __future__ import annotations

import asyncio
import base64
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import urlsplit

import aiohttp

from bot.files.extract import IMAGE, Extracted, Unreadable, image_tokens, kind_of
from bot.files.sandbox import ExtractionPool
from bot.tokens import TokenCounter

log = logging.getLogger(__name__)

FILE_MARKER = "\n\n[… file shortened: the middle is left out …]\n\n"
DOWNLOAD_CHUNK = 256 * 1024
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_read=20)  # a 20 MB file on a slow link, not forever


@dataclass(frozen=True)
class SharedImage:
    name: str
    data_url: str
    tokens: int


@dataclass
class SharedFiles:
    """What a message's files add to its turn."""

    texts: list[str] = field(default_factory=list)  # each file's text, marked with its name
    images: list[SharedImage] = field(default_factory=list)  # sent with this request only
    problems: list[str] = field(default_factory=list)  # "I can't read report.key: …"

    @property
    def image_tokens(self) -> int:
        return sum(image.tokens for image in self.images)

    def turn_text(self, question: str) -> str:
        """The user's turn as stored: the question, each file's text, a marker per image and
        the line for each file that could not be read."""
        parts = [question] if question else []
        parts += self.texts
        parts += [f"[image: {image.name}]" for image in self.images]
        parts += [f"[{problem}]" for problem in self.problems]
        return "\n\n".join(parts)


class FileReader:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        extractor: ExtractionPool,
        token: Callable[[], str],
        allowed_origins: Sequence[str],
        counter: TokenCounter,
        max_bytes: int,
        per_message: int,
        max_tokens: int,
        vision: bool,
    ) -> None:
        self.session = session
        self.extractor = extractor
        self.token = token  # the bot token of the workspace being worked for, read per download
        self.allowed_origins = tuple(origin_of(url) for url in allowed_origins)  # scheme, host (and its subdomains), port
        self.counter = counter
        self.max_bytes = max_bytes
        self.per_message = per_message
        self.max_tokens = max_tokens
        self.vision = vision

    async def read(self, files: Sequence[Mapping[str, Any]], *, channel: str = "", only_asker: bool = True) -> SharedFiles:
        """The files of a message posted in ``channel``; ``only_asker``: the answer is seen by the
        asker alone.  A file Slack says is shared only in other conversations is read only then."""
        shared = SharedFiles()
        for extra in files[self.per_message:]:
            shared.problems.append(f"I can't read {_name(extra)}: I read at most {self.per_message} files per message")
        results = await asyncio.gather(*(self._one(file) if only_asker or not shared_elsewhere(file, channel)
                                         else _as_done(NOT_HERE.format(name=_name(file)))
                                         for file in files[: self.per_message]))
        for result in results:
            if isinstance(result, str):
                shared.problems.append(result)
            elif result.image is not None:
                url = f"data:{result.image_type};base64," + base64.b64encode(result.image).decode()
                shared.images.append(SharedImage(result.name, url, image_tokens(result.width, result.height)))
            elif result.text is not None:
                shared.texts.append(f"[file: {result.name}]\n{result.text}\n[end of file: {result.name}]")
        return shared

    async def _one(self, file: Mapping[str, Any]) -> Extracted | str:
        name = _name(file)
        kind = kind_of(name, str(file.get("mimetype") or ""), str(file.get("filetype") or ""))
        if kind is None:
            return f"I can't read {name}: it is not a kind of file I read"
        if kind == IMAGE and not self.vision:
            return f"I can't read {name}: the model here does not take images"
        size = int(file.get("size") or 0)
        if size > self.max_bytes:
            return f"I can't read {name}: it is larger than {_megabytes(self.max_bytes)}"
        try:
            data = await self._download(file)
            extracted = await self.extractor.extract(name, kind, data)
            del data
            if extracted.text is not None:
                text = await asyncio.to_thread(self.counter.shorten, extracted.text, self.max_tokens, FILE_MARKER)
                extracted = Extracted(name, text=text)
            return extracted
        except Unreadable as problem:
            return f"I can't read {name}: {problem}"

    async def _download(self, file: Mapping[str, Any]) -> bytes:
        url = str(file.get("url_private_download") or file.get("url_private") or "")
        if not self._slack_url(url):
            raise Unreadable("Slack did not share its content with me")  # never send the token elsewhere
        try:
            async with self.session.get(url, headers={"Authorization": f"Bearer {self.token()}"},
                                        allow_redirects=False, timeout=DOWNLOAD_TIMEOUT) as response:
                if response.status != 200:
                    log.info("file download answered %d", response.status)
                    raise Unreadable("Slack would not give it to me (is files:read granted?)")
                data = bytearray()
                async for chunk in response.content.iter_chunked(DOWNLOAD_CHUNK):
                    data += chunk
                    if len(data) > self.max_bytes:
                        raise Unreadable(f"it is larger than {_megabytes(self.max_bytes)}")
                return bytes(data)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            log.info("file download failed: %s", type(exc).__name__)
            raise Unreadable("downloading it from Slack failed") from None

    def _slack_url(self, url: str) -> bool:
        """Only an address on one of Slack's origins (https, its own hosts), written plainly, gets the token."""
        if not url or "\\" in url or any(ord(c) < 33 for c in url):
            return False
        try:
            parts = urlsplit(url)
            origin = (parts.scheme, (parts.hostname or "").lower(), parts.port)
        except ValueError:
            return False
        if parts.username or parts.password:
            return False
        return any(_same_origin(origin, allowed) for allowed in self.allowed_origins)


def origin_of(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _same_origin(origin: tuple[str, str, int | None], allowed: tuple[str, str, int | None]) -> bool:
    scheme, host, port = origin
    return (scheme == allowed[0] and port == allowed[2]
            and (host == allowed[1] or host.endswith("." + allowed[1])))


NOT_HERE = "I can't read {name}: it is shared in another conversation, not this one (ask me in a DM)"


def shared_elsewhere(file: Mapping[str, Any], channel: str) -> bool:
    """Whether Slack lists where ``file`` is shared and this conversation is not among them (a
    file from a private conversation brought in by reference): its content would reach people
    who cannot see it.  A file without the lists is the message's own."""
    places = [str(c) for key in ("channels", "groups", "ims") for c in (file.get(key) or []) if c]
    return bool(places) and channel not in places


async def _as_done(value: str) -> str:
    return value


def _name(file: Mapping[str, Any]) -> str:
    return str(file.get("name") or file.get("title") or file.get("id") or "a file").replace("\n", " ")[:200]


def _megabytes(count: int) -> str:
    return f"{count / (1024 * 1024):g} MB"
