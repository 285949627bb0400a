"""The file worker: a separate process that extracts files for the bot, one at a time,
inside an address-space limit (``python -m bot.files.worker MEMORY_MB``).

It reads requests from standard input and writes results to standard output, as frames
(a 4-byte big-endian length, then the bytes): a request is a JSON header (name, kind,
limits) and the file's bytes; a result is a JSON header (text, or the image's type and
size, or the problem) and the image's bytes.  JSON, not pickle: the bot never runs what a
worker that read a hostile file sends back.  A file that needs more memory than the
limit ends in "too large" and the worker exits (the bot starts another); the bot kills a
worker that runs past the time allowed.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import struct
import sys
import warnings
from typing import BinaryIO

HEADER = struct.Struct(">I")
MAX_HEADER = 1024 * 1024


def write_frame(stream: BinaryIO, data: bytes) -> None:
    stream.write(HEADER.pack(len(data)))
    stream.write(data)


def read_frame(stream: BinaryIO, limit: int) -> bytes | None:
    """The next frame; None at the end of the stream."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (length,) = HEADER.unpack(head)
    if length > limit:
        raise ValueError("frame too long")
    data = stream.read(length)
    return data if len(data) == length else None


def limit_memory(megabytes: int) -> None:
    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def serve(requests: BinaryIO, results: BinaryIO, max_file_bytes: int) -> None:
    from bot.files.extract import TOO_LARGE, Limits, Unreadable, extract

    while True:
        header = read_frame(requests, MAX_HEADER)
        data = read_frame(requests, max_file_bytes) if header is not None else None
        if header is None or data is None:
            return
        request = json.loads(header)
        image = b""
        exhausted = False
        try:
            extracted = extract(request["name"], request["kind"], data, Limits(**request["limits"]))
            result = {"text": extracted.text, "image_type": extracted.image_type,
                      "width": extracted.width, "height": extracted.height}
            image = extracted.image or b""
        except Unreadable as problem:
            result = {"problem": str(problem)}
        except MemoryError:  # this worker ends after answering: the bot starts another for the next file
            result, exhausted = {"problem": TOO_LARGE, "exiting": True}, True
        except RecursionError:
            result = {"problem": TOO_LARGE}
        except Exception:  # a parser's own bug on a strange file: one line, the worker goes on
            result = {"problem": "it could not be read"}
        del data
        write_frame(results, json.dumps(result).encode())
        write_frame(results, image)
        results.flush()
        if exhausted:  # the heap may be fragmented past use: a fresh worker takes the next file
            return


def main(argv: list[str]) -> int:
    memory_mb, max_file_bytes = int(argv[1]), int(argv[2])
    _die_with_parent()
    # The libraries are loaded before the limit, so that the limit is what reading a file may take.
    import bot.files.extract  # noqa: F401
    import charset_normalizer  # noqa: F401
    import docx  # noqa: F401
    import pypdf  # noqa: F401
    from PIL import Image  # noqa: F401

    logging.disable(logging.CRITICAL)  # parsers' warnings about a file would quote it
    warnings.simplefilter("ignore")
    results = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to standard error, never into the results
    limit_memory(memory_mb)
    serve(sys.stdin.buffer, results, max_file_bytes)
    return 0


def _die_with_parent() -> None:
    """SIGKILL this worker when the bot process dies, however it dies (Linux)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:
            os._exit(0)
    except (OSError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv))
