"""Several Redis commands and scripts in one round trip.

A non-transactional pipeline, with two things redis-py's pipeline does not do
the way the hot path needs: scripts run by ``EVALSHA`` without the
``SCRIPT EXISTS`` round trip redis-py adds before every pipeline holding a
script (a script Redis does not know yet is loaded and run again on its own),
and each part's reply is read by whoever added the part, so independent
components (the queue, the flood limit, the Slack budget) can share one trip.
Commands run in the order they were added.
"""

from __future__ import annotations

from typing import Any, Sequence

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError


class Reply:
    """One part's reply, readable once the batch has run."""

    __slots__ = ("value", "_set")

    def __init__(self) -> None:
        self.value: Any = None
        self._set = False

    @property
    def arrived(self) -> bool:
        """Redis ran this part and answered (it may be an error reply)."""
        return self._set

    def get(self) -> Any:
        """The reply; raises the error Redis gave for this part (a RedisError)."""
        if not self._set:
            raise RuntimeError("the batch has not run yet")
        if isinstance(self.value, Exception):
            raise self.value
        return self.value

    @property
    def failed(self) -> bool:
        return self._set and isinstance(self.value, Exception)


class FirstOf:
    """The first of several replies that is not None (one read, several places to look)."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = replies

    def get(self) -> Any:
        return next((value for value in (reply.get() for reply in self.replies) if value is not None), None)


class Batch:
    def __init__(self) -> None:
        self._parts: list[tuple[AsyncScript | None, tuple[Any, ...], Sequence[Any], Sequence[Any], Reply]] = []

    def replies(self) -> list[Reply]:
        return [part[-1] for part in self._parts]

    def __len__(self) -> int:
        return len(self._parts)

    def command(self, *args: Any) -> Reply:
        reply = Reply()
        self._parts.append((None, args, (), (), reply))
        return reply

    def script(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Reply:
        reply = Reply()
        self._parts.append((script, (), list(keys), list(args), reply))
        return reply

    async def run(self, redis: aioredis.Redis) -> None:
        """Send every part in one round trip.  A part Redis refused keeps its error (its
        reader decides); when the trip itself fails (connection, timeout), every part
        keeps that error and it is raised."""
        if not self._parts:
            return
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for script, args, keys, argv, _ in self._parts:
                    if script is None:
                        pipe.execute_command(*args)
                    else:
                        pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *argv)
                results = await pipe.execute(raise_on_error=False)
        except BaseException as exc:
            for *_, reply in self._parts:
                reply.value, reply._set = exc, True
            raise
        for (script, _, keys, argv, reply), result in zip(self._parts, results):
            if script is not None and isinstance(result, NoScriptError):
                try:  # Redis restarted or flushed its scripts: load it and run it again
                    result = await script(keys=keys, args=argv)
                except ResponseError as exc:
                    result = exc
            reply.value, reply._set = result, True
