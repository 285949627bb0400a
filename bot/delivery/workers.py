"""Which bot processes are alive and what each is responsible for, in Redis.

Every process (a *worker*) keeps a heartbeat and a set of the conversations it
is responsible for.  A conversation enters that set *before* the worker can
lease it (accepting a message, taking one from the ready list or adopting one
from a dead worker), and leaves it only after its lease is released or handed
on.  So a conversation with waiting work is always either leased by a live
worker, in a dead worker's set (and adopted by the next sweep), or on the
ready list (work waiting for a process with room).

All keys share one hash slot (``{delivery}``), so moving a conversation from
one set or list to another is one atomic script.
"""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis

from bot.memory.batch import Batch
from bot.memory.conversation import ConversationId, Keys, as_text
from bot.delivery.keys import delivery_key

# KEYS: workers, the worker's set; ARGV: worker, lease ms, members no longer held...
HEARTBEAT_SCRIPT = """
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2]), ARGV[1])
if #ARGV > 2 then redis.call('SREM', KEYS[2], unpack(ARGV, 3)) end
return 1
"""

# KEYS: from set, to set; ARGV: member, new member
ADOPT_SCRIPT = """
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SADD', KEYS[2], ARGV[2])
return 1
"""

# KEYS: from set, ready list; ARGV: member, conversation
TO_READY_SCRIPT = """
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('LPUSH', KEYS[2], ARGV[2])
return 1
"""

# KEYS: ready list, own set; ARGV: flow id
TAKE_READY_SCRIPT = """
local cid = redis.call('RPOP', KEYS[1])
if not cid then return false end
local member = cid .. '|' .. ARGV[1]
redis.call('SADD', KEYS[2], member)
return member
"""

# KEYS: workers, the worker's set, its inbox; ARGV: worker
LEAVE_SCRIPT = """
if redis.call('SCARD', KEYS[2]) > 0 or redis.call('LLEN', KEYS[3]) > 0 then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
"""


def member_for(cid: ConversationId) -> str:
    """A set member naming ``cid`` for one flow of work (two flows never remove each other's)."""
    return f"{cid}|{uuid.uuid4().hex[:12]}"


def conversation_of(member: str) -> ConversationId:
    team, channel, thread = member.rsplit("|", 1)[0].split(":", 2)
    return ConversationId(team, channel, thread)


class Workers:
    def __init__(self, redis: aioredis.Redis, keys: Keys, *, worker_id: str, lease_ms: int) -> None:
        self.redis = redis
        self.worker_id = worker_id
        self.lease_ms = lease_ms
        self._workers = delivery_key(keys, "workers")
        self._ready = delivery_key(keys, "ready")
        self._holding_prefix = delivery_key(keys, "holding:")
        self._inbox_prefix = delivery_key(keys, "inbox:")  # events acknowledged, not yet queued (bot/delivery/inbox.py)
        self._adopt = redis.register_script(ADOPT_SCRIPT)
        self._to_ready = redis.register_script(TO_READY_SCRIPT)
        self._take_ready = redis.register_script(TAKE_READY_SCRIPT)
        self._leave = redis.register_script(LEAVE_SCRIPT)
        self._heartbeat = redis.register_script(HEARTBEAT_SCRIPT)
        self._finished: list[str] = []

    def holding(self, worker: str | None = None) -> str:
        return self._holding_prefix + (worker or self.worker_id)

    async def heartbeat(self) -> None:
        """This worker is alive for another lease period; and, in the same step, the work it
        finished since the last beat leaves its set (one command for all of it)."""
        members, self._finished = self._finished, []
        try:
            await self._heartbeat(keys=[self._workers, self.holding()], args=[self.worker_id, self.lease_ms, *members])
        except BaseException:
            self._finished.extend(members)
            raise

    async def hold(self, member: str) -> None:
        await self.redis.sadd(self.holding(), member)

    def hold_in(self, batch: Batch, member: str) -> None:
        """Add to ``batch``, ahead of leasing the conversation: this worker is responsible for ``member``."""
        batch.command("SADD", self.holding(), member)

    def drop_later(self, member: str) -> None:
        """No longer responsible for ``member``; forgotten in Redis with the next heartbeat, in
        one command for all (until then a sweep adopting it would find nothing to do)."""
        self._finished.append(member)

    async def flush_drops(self) -> None:
        members, self._finished = self._finished, []
        if members:
            try:
                await self.redis.srem(self.holding(), *members)
            except BaseException:
                self._finished.extend(members)
                raise

    async def to_ready(self, member: str, cid: ConversationId, *, from_worker: str | None = None) -> None:
        """Hand ``cid`` to whichever process has room next."""
        await self._to_ready(keys=[self.holding(from_worker), self._ready], args=[member, str(cid)])

    async def take_ready(self) -> str | None:
        """The oldest conversation waiting for room, now this worker's responsibility (its member)."""
        member = await self._take_ready(keys=[self._ready, self.holding()], args=[uuid.uuid4().hex[:12]])
        return None if member is None else as_text(member)

    async def dead(self, limit: int = 20) -> list[str]:
        """Workers whose heartbeat lapsed (not this one)."""
        now_ms = await self._now_ms()
        found = await self.redis.zrangebyscore(self._workers, "-inf", now_ms, start=0, num=limit)
        return [w for w in map(as_text, found) if w != self.worker_id]

    async def held_by(self, worker: str) -> list[str]:
        return [as_text(m) for m in await self.redis.smembers(self.holding(worker))]

    async def adopt(self, dead_worker: str, member: str) -> str | None:
        """Move ``member`` from a dead worker's set to this one's; the new member, or None if another got it."""
        new_member = member_for(conversation_of(member))
        moved = await self._adopt(keys=[self.holding(dead_worker), self.holding()], args=[member, new_member])
        return new_member if moved else None

    async def bury(self, worker: str) -> bool:
        """Forget a dead worker once nothing is left in its set or its inbox."""
        return bool(await self._leave(keys=[self._workers, self.holding(worker), self._inbox_prefix + worker],
                                      args=[worker]))

    async def leave(self) -> bool:
        """This worker stops; False (it is left for a sweep to adopt) if it still holds something."""
        return await self.bury(self.worker_id)

    async def _now_ms(self) -> int:
        seconds, micros = await self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

