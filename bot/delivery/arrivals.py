"""Messages arriving at this process: each conversation's accepted in arrival order (asyncio
locks are FIFO), and a message seen here already (its twin event, or Slack's retry of one
this process took) dropped at once, before any round trip."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from typing import AsyncIterator

from bot.memory.conversation import ConversationId
from bot.slack.events import IncomingMessage

RECENTLY_SEEN_LIMIT = 20_000


class Arrivals:
    def __init__(self) -> None:
        self._recently_seen: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._locks: dict[ConversationId, list] = {}  # [lock, users]

    @contextlib.asynccontextmanager
    async def in_order(self, cid: ConversationId) -> AsyncIterator[None]:
        """Hold ``cid``'s turn: messages of one conversation are accepted one after another."""
        entry = self._locks.setdefault(cid, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[cid]

    def seen(self, message: IncomingMessage) -> bool:
        """Whether this process saw ``message`` already (it is remembered now if not)."""
        key = (message.team, message.channel, message.job_id)
        if key in self._recently_seen:
            return True
        self._recently_seen[key] = None
        if len(self._recently_seen) > RECENTLY_SEEN_LIMIT:
            self._recently_seen.popitem(last=False)
        return False
