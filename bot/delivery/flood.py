"""A per-user flood limit: at most ``per_minute`` answered messages in any 60 seconds; and
a per-thread limit on answering other bots: at most ``bot_turns`` an hour, so two bots can
never talk to each other forever.

Counted per message (its job id), so Slack's retries and twin events count once.
The first message of a person over the limit in a window gets one private note; the rest
are dropped quietly (a bot is never told).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import redis.asyncio as aioredis

from bot.memory.batch import Batch, Reply
from bot.memory.conversation import Keys
from bot.delivery.keys import bot_turns_key, flood_key
from bot.slack.events import IncomingMessage

WINDOW_MS = 60_000
BOT_TURNS_WINDOW_MS = 3_600_000

# KEYS: the user's recent messages (zset), the user's note marker
# ARGV: message ts, limit, window ms
FLOOD_SCRIPT = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms - tonumber(ARGV[3]))
local existing = redis.call('ZSCORE', KEYS[1], ARGV[1])
local count = redis.call('ZCARD', KEYS[1])
if not existing then
  if count >= tonumber(ARGV[2]) then
    local first = redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3])
    return {1, first and 1 or 0}
  end
  redis.call('ZADD', KEYS[1], ms, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return {0, 0}
"""


@dataclass(frozen=True)
class FloodVerdict:
    over: bool
    first_over: bool  # the first message over the limit in this window: tell the user once
    limit: str = "flooded"  # which limit: "flooded" (the sender's) or "bot_turns" (the thread's turns with bots)


class FloodLimit:
    def __init__(self, redis: aioredis.Redis, keys: Keys, *, per_minute: int, bot_turns: int = 5) -> None:
        self.keys = keys
        self.per_minute = per_minute
        self.bot_turns = bot_turns
        self._script = redis.register_script(FLOOD_SCRIPT)

    def check_in(self, batch: Batch, team: str, user: str, ts: str) -> Reply:
        """Add to ``batch``: count message ``ts`` of ``user``; read the verdict with :func:`verdict`."""
        return batch.script(self._script, keys=[flood_key(self.keys, team, user), flood_key(self.keys, team, user) + ":noted"],
                            args=[ts, self.per_minute, WINDOW_MS])

    def counted_in(self, batch: Batch, team: str, user: str, job_id: str) -> Callable[[], FloodVerdict]:
        """Add to ``batch``: count job ``job_id`` of ``user``; returns how to read the verdict once it ran."""
        reply = self.check_in(batch, team, user, job_id)
        return lambda: verdict(reply)

    def message_counted_in(self, batch: Batch, message: IncomingMessage) -> Callable[[], FloodVerdict]:
        """Add to ``batch``: count ``message`` against its sender's limit and, when another bot
        sent it, against its thread's bot turns; returns how to read the verdict once it ran."""
        sender = self.counted_in(batch, message.team, message.user, message.job_id)
        if not message.bot:
            return sender
        key = bot_turns_key(self.keys, message.conversation)
        turns = batch.script(self._script, keys=[key, key + ":noted"], args=[message.job_id, self.bot_turns, BOT_TURNS_WINDOW_MS])

        def read() -> FloodVerdict:
            if verdict(turns).over:
                return FloodVerdict(True, False, "bot_turns")
            return FloodVerdict(sender().over, False)  # a bot is never told
        return read


def verdict(reply: Reply) -> FloodVerdict:
    over, first = reply.get()
    return FloodVerdict(bool(int(over)), bool(int(first)))
