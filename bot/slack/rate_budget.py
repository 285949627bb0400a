"""A per-workspace budget for Slack methods, shared by every process through Redis.

Slack limits ``chat.update`` to about 50 calls a minute per workspace (Tier 3),
whichever conversation they are for.  Every answer in a workspace draws from
one sliding one-minute window per method.  Each streaming answer registers
itself, and an intermediate update is only allowed while the window keeps a
call free for the final update of every other answer in flight, so the pace
of progress updates adapts to how many answers stream at once and every
answer can still finish.  A 429 from Slack blocks the method for the whole workspace until its
``Retry-After`` has passed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Callable, Optional

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from bot.memory.batch import Batch, Reply
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.workspaces import context as workspace_context

log = logging.getLogger(__name__)

ANSWER_TTL_MS = 10 * 60 * 1000  # an answer that never unregisters (crash) stops counting after this
FINAL_UPDATE = "chat.update"

# A sliding window: every call of the last minute is a member of a sorted set
# scored by its time, so no minute ever holds more than the limit.
# KEYS: calls zset, state hash (blocked_until), answers-in-flight zset, answers holding a message zset
# ARGV: calls per minute, calls that must remain free after this one (-1: one per
#       other answer in flight, plus the spare headroom), call id, an answer to count
#       no longer once the call is taken ('' = none: its last call)
# Returns milliseconds to wait (0: the call is taken).
SPARE_HEADROOM = 0.4  # share of the window progress updates never touch: room for answers about to start
TAKE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local reserve = tonumber(ARGV[2])
if reserve < 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  reserve = math.max(0, redis.call('ZCARD', KEYS[3]) - 1) + math.ceil(limit * SPARE_HEADROOM)
end
local blocked = tonumber(redis.call('HGET', KEYS[2], 'blocked_until')) or 0
if now < blocked then return blocked - now end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
local used = redis.call('ZCARD', KEYS[1])
local excess = used + 1 + reserve - limit
if excess <= 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], 61000)
  if ARGV[4] ~= '' then
    redis.call('ZREM', KEYS[3], ARGV[4])
    redis.call('ZREM', KEYS[4], ARGV[4])
  end
  return 0
end
if excess > used then return 60000 end
local oldest = redis.call('ZRANGE', KEYS[1], excess - 1, excess - 1, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + 60000 - now)
""".replace("SPARE_HEADROOM", repr(SPARE_HEADROOM))

BLOCK_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'blocked_until')) or 0
if until_ms > current then redis.call('HSET', KEYS[1], 'blocked_until', until_ms) end
redis.call('PEXPIRE', KEYS[1], 300000)
return until_ms
"""

ANSWER_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[1] == 'add' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
else
  redis.call('ZREM', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
return 1
"""

# Whether an answer may show a message it will have to update at the end (its first text, or
# a placeholder): only while the window can take the final update of every answer already
# holding one, and this one's.  Otherwise it shows nothing more yet and posts itself whole.
# KEYS: chat.update calls zset, chat.update state hash, answers holding a message zset
# ARGV: calls per minute, answer id, ttl ms.  Returns 1 (it holds a final update) or 0.
HOLD_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZSCORE', KEYS[3], ARGV[2]) then return 1 end
local blocked = tonumber(redis.call('HGET', KEYS[2], 'blocked_until')) or 0
if now < blocked then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[3]) + 1 > tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[3]))
return 1
"""


class RateBudget:
    def __init__(self, redis: aioredis.Redis, *, key_prefix: str, per_minute: dict[str, int]) -> None:
        self.base = f"{key_prefix}:v1:rate"
        self.per_minute = per_minute
        self._take = redis.register_script(TAKE_SCRIPT)
        self._block = redis.register_script(BLOCK_SCRIPT)
        self._answer = redis.register_script(ANSWER_SCRIPT)
        self._hold = redis.register_script(HOLD_SCRIPT)

    def _keys(self, team: str, method: str) -> list[str]:
        """The method's calls and state, the answers in flight, the answers holding a message (one slot)."""
        tag = f"{self.base}:{{{team}}}"
        return [f"{tag}:{method}:calls", f"{tag}:{method}:state", f"{tag}:answers", f"{tag}:holding"]

    async def begin_answer(self, team: str) -> str:
        """Count one more answer in flight in ``team``; returns its id for end_answer."""
        answer_id = uuid.uuid4().hex
        await self._quietly(self._answer(keys=self._keys(team, "")[2:], args=["add", answer_id, ANSWER_TTL_MS]))
        return answer_id

    async def hold_final_update(self, team: str, answer_id: str) -> bool:
        """Whether answer ``answer_id`` may show a message it must update at the end: the
        workspace's chat.update window keeps a call for it and for every answer holding one
        already (it holds one from now on, until its final update or its end)."""
        keys = self._keys(team, FINAL_UPDATE)
        try:
            return bool(await self._hold(keys=[keys[0], keys[1], keys[3]],
                                         args=[self.per_minute.get(FINAL_UPDATE, 100), answer_id, ANSWER_TTL_MS]))
        except (RedisError, OSError) as exc:
            log.warning("rate budget unavailable: %s", type(exc).__name__)
            return True  # advisory: show the answer as it streams

    def begin_answer_in(self, batch: Batch, team: str) -> str:
        """Add to ``batch``: count one more answer in flight; its id."""
        answer_id = uuid.uuid4().hex
        batch.script(self._answer, keys=self._keys(team, "")[2:], args=["add", answer_id, ANSWER_TTL_MS])
        return answer_id

    def take_in(self, batch: Batch, team: str, method: str) -> Reply:
        """Add to ``batch``: take a call now if the budget has one; read with :meth:`taken`."""
        return batch.script(self._take, keys=self._keys(team, method), args=self._args(method, 0))

    @staticmethod
    def taken(reply: Reply) -> bool:
        """Whether a call taken in a batch was granted (the budget is advisory: an error grants it)."""
        try:
            return not int(reply.get() or 0)
        except (RedisError, OSError) as exc:
            log.warning("rate budget unavailable: %s", type(exc).__name__)
            return True

    async def end_answer(self, team: str, answer_id: str) -> None:
        await self._quietly(self._answer(keys=self._keys(team, "")[2:], args=["remove", answer_id, 0]))

    async def try_take_spare(self, team: str, method: str) -> bool:
        """Take a call for an update that may be skipped: only if a call stays
        free for the final update of every other answer in flight."""
        wait = await self._quietly(self._take(keys=self._keys(team, method), args=self._args(method, -1)))
        return wait == 0

    async def take(self, team: str, method: str, max_wait: float, *, ending: str = "") -> bool:
        """Take a call, waiting up to ``max_wait`` seconds for the budget; False if it stayed full.
        ``ending``: an answer whose last call this is (it stops counting in the same step)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        while True:
            wait = await self._quietly(self._take(keys=self._keys(team, method), args=self._args(method, 0, ending)))
            if not wait:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(wait / 1000, remaining))

    async def block(self, team: str, method: str, seconds: float) -> None:
        """Slack said 429: nobody in the workspace calls ``method`` for ``seconds``."""
        await self._quietly(self._block(keys=self._keys(team, method)[1:2], args=[int(seconds * 1000)]))

    def _args(self, method: str, reserve: int, ending: str = "") -> list[Any]:
        return [self.per_minute.get(method, 100), reserve, uuid.uuid4().hex, ending]

    @staticmethod
    async def _quietly(call: Any) -> int:
        """The budget is advisory: if Redis fails, do not block the answer."""
        try:
            return int(await call or 0)
        except (RedisError, OSError) as exc:
            log.warning("rate budget unavailable: %s", type(exc).__name__)
            return 0


def retry_after_seconds(headers: Any) -> float:
    """Slack's ``Retry-After`` (any header case; the SDK gives lists or strings); 1 s if absent or unreadable."""
    value = next((v for k, v in dict(headers or {}).items() if k.lower() == "retry-after"), "1")
    try:
        return float(value[0] if isinstance(value, list) else value)
    except (TypeError, ValueError, IndexError):
        return 1.0


class SharedRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """The SDK's 429 retry (it waits for Retry-After), which also tells every
    other answer in the workspace to wait, through the shared budget."""

    def __init__(self, budget: RateBudget, max_retry_count: int = 3,
                 on_rate_limited: Callable[[str], None] | None = None) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.budget = budget
        self.on_rate_limited = on_rate_limited  # told the method of every 429 retried (the metrics count them)
        self.team: str = ""  # single-workspace mode: set once auth.test has said which workspace this is

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: Optional[HttpResponse] = None,
        error: Optional[Exception] = None,
    ) -> None:
        workspace = workspace_context.current()
        team = workspace.team_id if workspace is not None else self.team
        if response is not None and team:
            method = request.url.rstrip("/").rsplit("/", 1)[-1]
            seconds = retry_after_seconds(response.headers)
            log.warning("Slack rate-limited %s; the workspace waits %.0fs", method, seconds)
            if self.on_rate_limited is not None:
                self.on_rate_limited(method)
            await self.budget.block(team, method, seconds)
        await super().prepare_for_next_attempt_async(state=state, request=request, response=response, error=error)

