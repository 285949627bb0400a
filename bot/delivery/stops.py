"""Stop presses, delivered to whichever process is writing the answer.

A press is published on one Redis pub/sub channel; every process keeps one
subscription (opened when it first writes an answer that can be stopped) and
tells the answers it is writing.  Nothing is polled per answer.  The press is
also kept for a while under its own key, so an answer whose process was
re-subscribing when the press went out still finds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.memory.conversation import Keys, as_text
from bot.delivery.keys import delivery_key

log = logging.getLogger(__name__)

STOP_TTL_SECONDS = 15 * 60
RECENT_SECONDS = 60.0  # a press that found no answer yet is remembered this long
RECENT_LIMIT = 1000
RESUBSCRIBE_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass(eq=False)
class _Watch:
    team: str
    channel: str
    messages: Callable[[], Sequence[str]]  # the answer's messages in Slack so far
    on_stop: Callable[[], None]


class StopSignals:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self.channel = delivery_key(keys, "stops")
        self._watches: dict[tuple[str, str], set[_Watch]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        # Presses heard lately: one can arrive before its answer knows its own message
        # (the post's reply still on its way), and is found by the next check.
        self._recent: OrderedDict[tuple[str, str, str], float] = OrderedDict()

    async def request(self, team: str, channel: str, ts: str) -> None:
        """Stop the answer in message ``ts``, whichever process writes it."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self.keys.stop(team, channel, ts), "1", ex=STOP_TTL_SECONDS)
            pipe.publish(self.channel, f"{team}|{channel}|{ts}")
            await pipe.execute()

    @contextlib.contextmanager
    def watch(self, team: str, channel: str, messages: Callable[[], Sequence[str]], on_stop: Callable[[], None]) -> Iterator[None]:
        """Call ``on_stop`` when Stop is pressed on one of the answer's ``messages``."""
        self._ensure_listening()
        watch = _Watch(team, channel, messages, on_stop)
        self._watches.setdefault((team, channel), set()).add(watch)
        try:
            yield
        finally:
            found = self._watches.get((team, channel))
            if found is not None:
                found.discard(watch)
                if not found:
                    del self._watches[(team, channel)]

    def _ensure_listening(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    def pressed(self, team: str, channel: str, messages: Callable[[], Sequence[str]]) -> bool:
        """Whether Stop was pressed lately on one of ``messages`` (checked between chunks)."""
        if not self._recent:
            return False
        horizon = time.monotonic() - RECENT_SECONDS
        while self._recent and next(iter(self._recent.values())) < horizon:
            self._recent.popitem(last=False)
        return any((team, channel, ts) in self._recent for ts in messages())

    def _deliver(self, team: str, channel: str, ts: str) -> None:
        self._recent[(team, channel, ts)] = time.monotonic()
        if len(self._recent) > RECENT_LIMIT:
            self._recent.popitem(last=False)
        for watch in list(self._watches.get((team, channel), ())):
            if ts in watch.messages():
                watch.on_stop()

    async def _listen(self) -> None:
        attempt = 0
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                if attempt:
                    log.info("listening for Stop presses again")
                attempt = 0
                await self._catch_up()  # presses made while the subscription was not open yet
                while True:
                    message = await pubsub.get_message(timeout=30.0)
                    if message is None or message.get("type") != "message":
                        continue
                    team, _, rest = as_text(message["data"]).partition("|")
                    channel, _, ts = rest.partition("|")
                    self._deliver(team, channel, ts)
            except (RedisError, OSError) as exc:
                self._subscribed.clear()
                delay = RESUBSCRIBE_SECONDS[min(attempt, len(RESUBSCRIBE_SECONDS) - 1)]
                attempt += 1
                log.warning("Stop presses not heard (%s): listening again in %.1fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _catch_up(self) -> None:
        """After a gap in the subscription: presses kept under their keys for answers still being written."""
        asked = [(w, ts) for found in self._watches.values() for w in found for ts in w.messages()]
        if not asked:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for w, ts in asked:
                pipe.execute_command("EXISTS", self.keys.stop(w.team, w.channel, ts))
            found = await pipe.execute()
        for (w, _), pressed in zip(asked, found):
            if pressed:
                w.on_stop()

    async def wait_listening(self, timeout: float = 5.0) -> bool:
        """For start-up and tests: whether the subscription is open (within ``timeout``)."""
        self._ensure_listening()
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
