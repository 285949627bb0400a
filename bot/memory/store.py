"""Conversation memory, de-duplication and per-conversation queues in Redis.

One implementation serves both modes: a real Redis server (``REDIS_URL``) or,
without one, an embedded in-process Redis (fakeredis) running the very same
commands and scripts.

Per conversation (all keys in one hash slot, all with the conversation TTL):

- ``messages``: a list of JSON turns (role, content, token count, ts, user).
  It only ever holds the window the model still sees; trimming drops a chunk
  from its head with LTRIM.
- ``meta``: a hash with ``active`` (the bot takes part), ``imported`` (the
  thread's earlier messages were read from Slack once) and ``last_active``.
- ``queue`` + ``queue-items``: messages claimed but not answered yet, in ts
  order, drained by whichever process holds the conversation's ``lock``.
- ``claim:{ts}``: taken once per message; retries and twin events find it.
"""

from __future__ import annotations

import enum
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import AsyncIterator, Sequence

import redis.asyncio as aioredis
from redis.asyncio.lock import Lock

from bot.memory.conversation import ConversationId, Keys, StoredMessage
from bot.slack.events import ANSWER, IncomingMessage

QUEUE_TTL_SECONDS = 3600
CLAIM_TTL_SECONDS = 6 * 3600  # longer than Slack's whole retry schedule
NAME_TTL_SECONDS = 24 * 3600
STOP_TTL_SECONDS = 15 * 60
USAGE_DAY_TTL_SECONDS = 3 * 24 * 3600
USAGE_MONTH_TTL_SECONDS = 62 * 24 * 3600


@dataclass(frozen=True)
class TokenUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Acceptance(enum.IntEnum):
    ACCEPTED = 1
    DUPLICATE = -1
    NOT_IN_CONVERSATION = 0


# KEYS: claim, meta, queue, queue-items
# ARGV: requires active conversation, ts, message json, claim ttl, conversation ttl, queue ttl, nothing earlier to import
ACCEPT_SCRIPT = """
if ARGV[1] == '1' and redis.call('HEXISTS', KEYS[2], 'active') == 0 then return 0 end
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[4]) then return -1 end
redis.call('HSETNX', KEYS[2], 'active', '1')
if ARGV[7] == '1' then redis.call('HSETNX', KEYS[2], 'imported', '1') end
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
-- equal scores: members sort by ts, which Slack writes with a fixed width
redis.call('ZADD', KEYS[3], 0, ARGV[2])
redis.call('EXPIRE', KEYS[3], ARGV[6])
redis.call('EXPIRE', KEYS[4], ARGV[6])
return 1
"""


@dataclass
class ConversationState:
    messages: list[StoredMessage] = field(default_factory=list)
    active: bool = False
    imported: bool = False
    last_active: float = 0.0
    persona: str | None = None


class ConversationStore:
    def __init__(self, redis: aioredis.Redis, *, key_prefix: str, ttl_seconds: int, lock_ttl_seconds: float = 30.0) -> None:
        self.redis = redis
        self.keys = Keys(key_prefix)
        self.ttl = ttl_seconds
        self.lock_ttl = lock_ttl_seconds
        self._accept_script = redis.register_script(ACCEPT_SCRIPT)

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    async def close(self) -> None:
        await self.redis.aclose()

    # --- exactly-once, in order -------------------------------------------
    async def accept(self, message: IncomingMessage) -> Acceptance:
        """Claim ``message`` and queue it on its conversation, in one atomic step.

        Retries and twin events find the claim taken (DUPLICATE).  A message
        that is answered only in a thread the bot takes part in is refused
        (NOT_IN_CONVERSATION) without being claimed.
        """
        cid = message.conversation
        result = await self._accept_script(
            keys=[self.keys.claim(cid, message.job_id), self.keys.meta(cid), self.keys.queue(cid), self.keys.queue_items(cid)],
            args=[
                "1" if message.answer_requires_known_thread else "0",
                message.job_id,
                json.dumps(message.to_dict()),
                CLAIM_TTL_SECONDS,
                self.ttl,
                QUEUE_TTL_SECONDS,
                "1" if message.thread_ts is None and message.kind == ANSWER else "0",
            ],
        )
        return Acceptance(int(result))

    # --- per-conversation queue ------------------------------------------
    async def pop_next(self, cid: ConversationId) -> IncomingMessage | None:
        """The oldest waiting message; only the lock holder calls this."""
        popped = await self.redis.zpopmin(self.keys.queue(cid))
        if not popped:
            return None
        ts = _text(popped[0][0])
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(self.keys.queue_items(cid), ts)
            pipe.hdel(self.keys.queue_items(cid), ts)
            raw, _ = await pipe.execute()
        if raw is None:
            return None
        return IncomingMessage.from_dict(json.loads(raw))

    async def is_waiting(self, cid: ConversationId, ts: str) -> bool:
        return await self.redis.zscore(self.keys.queue(cid), ts) is not None

    async def has_waiting(self, cid: ConversationId) -> bool:
        return bool(await self.redis.zcard(self.keys.queue(cid)))

    def lock(self, cid: ConversationId) -> Lock:
        return self.redis.lock(self.keys.lock(cid), timeout=self.lock_ttl, blocking=False)

    # --- memory ------------------------------------------------------------
    async def load(self, cid: ConversationId) -> ConversationState:
        """The conversation's window and state, and its channel's persona, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.meta(cid))
            pipe.lrange(self.keys.messages(cid), 0, -1)
            pipe.get(self.keys.persona(cid.team, cid.channel))
            meta, raw_messages, persona = await pipe.execute()
        meta = {_text(k): _text(v) for k, v in meta.items()}
        return ConversationState(
            messages=StoredMessage.many_from_json([_text(raw) for raw in raw_messages]),
            active="active" in meta,
            imported="imported" in meta,
            last_active=float(meta.get("last_active", 0) or 0),
            persona=None if persona is None else _text(persona),
        )

    async def save_turn(
        self, cid: ConversationId, new: Sequence[StoredMessage], *, drop_oldest: int = 0, imported: bool | None = None
    ) -> None:
        """Append ``new`` turns and drop the ``drop_oldest`` first ones, atomically."""
        messages, meta = self.keys.messages(cid), self.keys.meta(cid)
        async with self.redis.pipeline(transaction=True) as pipe:
            if new:
                pipe.rpush(messages, *(m.to_json() for m in new))
            if drop_oldest:
                pipe.ltrim(messages, drop_oldest, -1)
            fields = {"active": "1", "last_active": repr(time.time())}
            if imported:
                fields["imported"] = "1"
            pipe.hset(meta, mapping=fields)
            pipe.expire(messages, self.ttl)
            pipe.expire(meta, self.ttl)
            index = self.keys.channel_conversations(cid.team, cid.channel)
            pipe.sadd(index, cid.thread)
            pipe.expire(index, self.ttl)
            await pipe.execute()

    async def rewrite_tail(
        self, cid: ConversationId, *, remove_last: int, replace_last: StoredMessage | None, drop_oldest: int = 0
    ) -> None:
        """Remove the ``remove_last`` newest turns, then replace the newest
        remaining one and drop the ``drop_oldest`` first ones, atomically."""
        messages = self.keys.messages(cid)
        async with self.redis.pipeline(transaction=True) as pipe:
            if remove_last:
                pipe.rpop(messages, remove_last)
            if replace_last is not None:
                pipe.lset(messages, -1, replace_last.to_json())
            if drop_oldest:
                pipe.ltrim(messages, drop_oldest, -1)
            pipe.expire(messages, self.ttl)
            await pipe.execute()

    async def replace_turn(self, cid: ConversationId, index: int, turn: StoredMessage) -> None:
        """Replace one stored turn (``index`` as in a Python list, negative from the newest)."""
        await self.redis.lset(self.keys.messages(cid), index, turn.to_json())

    async def clear_messages(self, cid: ConversationId) -> None:
        await self.redis.delete(self.keys.messages(cid))

    async def forget(self, cid: ConversationId) -> None:
        await self.redis.delete(self.keys.messages(cid), self.keys.meta(cid))

    async def forget_channel(self, team: str, channel: str) -> int:
        """Forget every conversation the bot keeps in ``channel``; returns how many."""
        index = self.keys.channel_conversations(team, channel)
        threads = await self.redis.smembers(index)
        keys = [index]
        for thread in threads:
            cid = ConversationId(team, channel, _text(thread))
            keys += [self.keys.messages(cid), self.keys.meta(cid)]
        await self.redis.delete(*keys)
        return len(threads)

    # --- personas ------------------------------------------------------------
    async def get_persona(self, team: str, channel: str) -> str | None:
        value = await self.redis.get(self.keys.persona(team, channel))
        return None if value is None else _text(value)

    async def set_persona(self, team: str, channel: str, text: str | None) -> None:
        if text is None:
            await self.redis.delete(self.keys.persona(team, channel))
        else:
            await self.redis.set(self.keys.persona(team, channel), text)

    # --- token usage -----------------------------------------------------------
    async def record_usage(
        self, team: str, channel: str, user: str, *, prompt_tokens: int, completion_tokens: int, when: datetime
    ) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for period, ttl in ((when.strftime("%Y-%m-%d"), USAGE_DAY_TTL_SECONDS), (when.strftime("%Y-%m"), USAGE_MONTH_TTL_SECONDS)):
                key = self.keys.usage(team, period)
                for who in (f"user:{user}", f"channel:{channel}"):
                    pipe.hincrby(key, f"{who}:in", prompt_tokens)
                    pipe.hincrby(key, f"{who}:out", completion_tokens)
                pipe.expire(key, ttl)
            await pipe.execute()

    async def usage_report(self, team: str, channel: str, user: str, when: datetime) -> dict[str, TokenUsage]:
        """Usage of ``user`` and ``channel`` for the day and month of ``when``."""
        periods = {"day": when.strftime("%Y-%m-%d"), "month": when.strftime("%Y-%m")}
        fields = [f"user:{user}:in", f"user:{user}:out", f"channel:{channel}:in", f"channel:{channel}:out"]
        async with self.redis.pipeline(transaction=False) as pipe:
            for period in periods.values():
                pipe.hmget(self.keys.usage(team, period), fields)
            results = await pipe.execute()
        report: dict[str, TokenUsage] = {}
        for (label, _), values in zip(periods.items(), results):
            n = [int(v or 0) for v in values]
            report[f"user_{label}"] = TokenUsage(n[0], n[1])
            report[f"channel_{label}"] = TokenUsage(n[2], n[3])
        return report

    # --- answers, feedback and stop requests -----------------------------------
    async def save_answer(self, team: str, channel: str, ts: str, record: dict[str, object]) -> None:
        await self.redis.set(self.keys.answer(team, channel, ts), json.dumps(record), ex=self.ttl)

    async def get_answer(self, team: str, channel: str, ts: str) -> dict[str, object] | None:
        raw = await self.redis.get(self.keys.answer(team, channel, ts))
        return None if raw is None else json.loads(raw)

    async def save_feedback(self, team: str, channel: str, ts: str, entry: dict[str, object]) -> None:
        """One rating per answer (a second click replaces the first); kept as long as conversations."""
        await self.redis.set(self.keys.feedback(team, channel, ts), json.dumps(entry), ex=self.ttl)

    async def all_feedback(self) -> AsyncIterator[dict[str, object]]:
        async for key in self.redis.scan_iter(match=self.keys.feedback_pattern(), count=500):
            raw = await self.redis.get(key)
            if raw is not None:
                yield json.loads(raw)

    async def request_stop(self, team: str, channel: str, ts: str) -> None:
        await self.redis.set(self.keys.stop(team, channel, ts), "1", ex=STOP_TTL_SECONDS)

    async def stop_requested(self, team: str, channel: str, ts: str) -> bool:
        return bool(await self.redis.exists(self.keys.stop(team, channel, ts)))

    # --- assistant threads ----------------------------------------------------
    async def save_thread_context(self, channel: str, thread_ts: str, context: dict[str, str]) -> None:
        await self.redis.set(self.keys.thread_context(channel, thread_ts), json.dumps(context), ex=self.ttl)

    async def begin_known_thread(self, cid: ConversationId) -> None:
        """A thread the bot started (an assistant thread): nothing earlier to read from Slack."""
        meta = self.keys.meta(cid)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(meta, mapping={"active": "1", "imported": "1"})
            pipe.expire(meta, self.ttl)
            await pipe.execute()

    async def get_thread_context(self, channel: str, thread_ts: str) -> dict[str, str] | None:
        raw = await self.redis.get(self.keys.thread_context(channel, thread_ts))
        return None if raw is None else json.loads(raw)

    async def once_per_thread(self, purpose: str, channel: str, thread_ts: str) -> bool:
        """True the first time only (per thread and purpose), across retries and processes."""
        key = self.keys.thread_once(purpose, channel, thread_ts)
        return bool(await self.redis.set(key, "1", nx=True, ex=CLAIM_TTL_SECONDS))

    # --- names of users and channels ----------------------------------------
    async def get_name(self, team: str, slack_id: str) -> str | None:
        value = await self.redis.get(self.keys.name(team, slack_id))
        return None if value is None else _text(value)

    async def set_name(self, team: str, slack_id: str, name: str) -> None:
        await self.redis.set(self.keys.name(team, slack_id), name, ex=NAME_TTL_SECONDS)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def connect(redis_url: str | None) -> aioredis.Redis:
    """A client for ``redis_url``, or an embedded in-process Redis when it is None."""
    if redis_url is None:
        from fakeredis import FakeAsyncRedis

        return FakeAsyncRedis(decode_responses=True)
    return aioredis.Redis.from_url(
        redis_url,
        decode_responses=True,
        socket_connect_timeout=5,
        socket_timeout=5,
        health_check_interval=30,
        retry_on_timeout=True,
    )
