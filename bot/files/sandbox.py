"""Extraction in file worker processes (``bot/files/worker.py``), never in the bot's own.

A small pool of workers, each with an address-space limit; each file has a wall-time
limit.  A worker that runs past it is killed, one that dies (its memory limit, a crash)
is gone: either way the file is one plain line ("it is too large to read") and the next
file gets a fresh worker.  Workers start on first use and die with the bot.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import struct
import sys
from dataclasses import dataclass

from bot.files.extract import TOO_LARGE, Extracted, Limits, Unreadable

log = logging.getLogger(__name__)

HEADER = struct.Struct(">I")
MAX_RESULT_HEADER = 64 * 1024 * 1024  # a result's JSON: text within max_chars, escaped


@dataclass(frozen=True)
class SandboxLimits:
    memory_mb: int = 512  # each worker's address space
    seconds: float = 20.0  # wall time for one file
    workers: int = 2  # files read at once (more wait for a worker)
    max_file_bytes: int = 20 * 1024 * 1024
    file: Limits = Limits()


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def extract(self, name: str, kind: str, data: bytes, limits: Limits) -> tuple[dict, bytes]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        header = json.dumps({"name": name, "kind": kind, "limits": dataclasses.asdict(limits)}).encode()
        for frame in (header, data):
            stdin.write(HEADER.pack(len(frame)))
            stdin.write(frame)
        await stdin.drain()
        result = json.loads(await _read_frame(stdout, MAX_RESULT_HEADER))
        image = await _read_frame(stdout, MAX_RESULT_HEADER)
        return result, image

    def kill(self) -> None:
        if self.alive:
            try:
                self.process.kill()
            except ProcessLookupError:
                pass


async def _read_frame(stream: asyncio.StreamReader, limit: int) -> bytes:
    (length,) = HEADER.unpack(await stream.readexactly(HEADER.size))
    if length > limit:
        raise ValueError("result frame too long")
    return await stream.readexactly(length)


class _WorkerGone(Exception):
    """The worker died, or ran out of time, on a file."""

    def __init__(self, timed_out: bool = False) -> None:
        super().__init__()
        self.timed_out = timed_out


class ExtractionPool:
    """``await pool.extract(name, kind, data)``: an :class:`Extracted`, or Unreadable."""

    def __init__(self, limits: SandboxLimits = SandboxLimits()) -> None:
        self.limits = limits
        self._idle: list[_Worker] = []
        self._slots = asyncio.Semaphore(max(1, limits.workers))
        self._closed = False
        self.replaced = 0  # workers killed or lost (for tests and metrics)

    async def extract(self, name: str, kind: str, data: bytes) -> Extracted:
        async with self._slots:
            worker, reused = await self._take()
            try:
                result, image = await self._on(worker, name, kind, data)
            except _WorkerGone as gone:
                if not reused or gone.timed_out:
                    raise Unreadable(TOO_LARGE) from None
                # An idle worker that had died meanwhile (killed from outside): a fresh one tries once.
                worker, _ = await self._take(fresh=True)
                try:
                    result, image = await self._on(worker, name, kind, data)
                except _WorkerGone:
                    raise Unreadable(TOO_LARGE) from None
            if result.get("exiting"):  # it hit its memory limit and ends: never reused
                self._lose(worker)
            else:
                self._give_back(worker)
        if "problem" in result:
            raise Unreadable(str(result["problem"]))
        if image:
            return Extracted(name, image=image, image_type=str(result.get("image_type") or ""),
                             width=int(result.get("width") or 0), height=int(result.get("height") or 0))
        return Extracted(name, text=str(result.get("text") or ""))

    async def _on(self, worker: _Worker, name: str, kind: str, data: bytes) -> tuple[dict, bytes]:
        """One file on one worker; raises _WorkerGone (the worker is lost) when it dies or runs out of time."""
        try:
            return await asyncio.wait_for(worker.extract(name, kind, data, self.limits.file), self.limits.seconds)
        except asyncio.TimeoutError:
            log.warning("reading a %s file took over %.0fs: its worker is replaced", kind, self.limits.seconds)
            self._lose(worker)
            raise _WorkerGone(timed_out=True) from None
        except (asyncio.IncompleteReadError, ConnectionError, BrokenPipeError, ValueError, OSError):
            code = await _exit_code(worker)
            log.warning("the file worker reading a %s file ended (exit %s): it is replaced", kind, code)
            self._lose(worker)
            raise _WorkerGone from None
        except BaseException:  # cancelled mid-file: the worker's state is unknown
            self._lose(worker)
            raise

    async def _take(self, fresh: bool = False) -> tuple[_Worker, bool]:
        """A worker, and whether it had read a file before."""
        while self._idle and not fresh:
            worker = self._idle.pop()
            if worker.alive:
                return worker, True
        return await self._start(), False

    async def _start(self) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.files.worker", str(self.limits.memory_mb), str(self.limits.max_file_bytes),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            limit=1024 * 1024)
        return _Worker(process)

    def _give_back(self, worker: _Worker) -> None:
        if self._closed or not worker.alive:
            self._lose(worker)
        else:
            self._idle.append(worker)

    def _lose(self, worker: _Worker) -> None:
        self.replaced += 1
        worker.kill()
        asyncio.ensure_future(_reap(worker))

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for worker in idle:
            if worker.process.stdin is not None:
                worker.process.stdin.close()
            worker.kill()
            await _reap(worker)


async def _exit_code(worker: _Worker) -> int | None:
    try:
        return await asyncio.wait_for(worker.process.wait(), 1.0)
    except asyncio.TimeoutError:
        return None


async def _reap(worker: _Worker) -> None:
    try:
        await asyncio.wait_for(worker.process.wait(), 5.0)
    except (asyncio.TimeoutError, ProcessLookupError):
        pass
