"""A conversation's queue of things to do, and the lease on it, in Redis.

Every key here belongs to one conversation (one hash slot), so each step is
one atomic script:

- ``accept``: claim a message once (retries and twin events find the claim),
  queue it in ts order and, when nobody holds the conversation and this
  process has room, lease the conversation to this process at once.
- ``acquire``: lease a conversation that has waiting work and no live holder
  (or whose holder is known dead).
- ``renew``: keep a lease; it fails once someone else holds the conversation.
- ``next``: the oldest waiting job, left in the queue until it is committed
  (a job is leased, never popped: if its worker dies, the job is still there).
- ``commit``: the job's turns written to memory and the job removed, in one
  step, and only while the lease is ours (the fencing check).
- ``release``: give the lease up, unless more work arrived meanwhile.

A lease is ``<worker>:<fence>``; the fence grows with every new lease of the
conversation and never goes back (it is at least Redis's clock in microseconds,
so even a conversation forgotten and begun again gets higher fences), and a write
is taken only from the holder, or, once the lease lapsed, from a token whose fence
is not lower than the last one granted: a worker whose lease was taken over can
never write again, even after the one that took it over let go.
"""

from __future__ import annotations

import json
from functools import partial
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import redis.asyncio as aioredis

from bot.channels.config import ChannelConfig
from bot.memory.batch import Batch, FirstOf, Reply
from bot.memory.conversation import ConversationId, Keys, StoredMessage, as_text
from bot.memory.store import ConversationState
from bot.slack.events import ANSWER, IncomingMessage
from bot.workspaces.sealing import Sealer, opened_with, sealed_with

QUEUE_TTL_SECONDS = 3600
CLAIM_TTL_SECONDS = 3600  # Slack retries a delivery 3 times within about 6 minutes: an hour covers it many times over

# Outcomes of accept.
LEASED, QUEUED, DUPLICATE, NOT_IN_CONVERSATION = "leased", "queued", "duplicate", "not in conversation"

# Appends the oldest waiting job and the conversation's state to ``out`` (a leased
# conversation's work starts without another round trip).
# KEYS used: queue, items, partials, meta, messages (named by the caller).
HEAD = """
local function head(out, queue, items, partials, meta, messages, answer)
  local first = redis.call('ZRANGE', queue, 0, 0)
  if #first == 0 then return out end
  out[#out + 1] = first[1]
  out[#out + 1] = redis.call('HGET', items, first[1]) or ''
  out[#out + 1] = redis.call('HGET', partials, first[1]) or ''
  out[#out + 1] = redis.call('HGETALL', meta)
  out[#out + 1] = redis.call('LRANGE', messages, 0, -1)
  out[#out + 1] = redis.call('GET', answer) or ''
  return out
end
"""

# Fences: every new lease's is higher than any before it (the last granted is kept in the
# conversation's meta), and a token is ours while it holds the lock or, once the lock
# lapsed, while no later lease was granted.
FENCE = """
local function next_fence(meta)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local fence = math.max(tonumber(redis.call('HGET', meta, 'fence') or '0') + 1, now)
  local text = string.format('%.0f', fence)
  redis.call('HSET', meta, 'fence', text)
  return text
end
local function ours(lock, meta, token)
  local holder = redis.call('GET', lock)
  if holder then return holder == token end
  local mine = tonumber(string.match(token, ':(%d+)$') or '0')
  return mine >= tonumber(redis.call('HGET', meta, 'fence') or '0')
end
"""

# KEYS: claims, meta, queue, items, lock, partials, messages, last answer
# ARGV: requires active conversation, job id, job json, claim ttl, conversation ttl, queue ttl,
#       nothing earlier to import, worker ('' = do not lease), lease ms
# Claims: one sorted set per conversation, job id -> when its claim lapses (ms), lapsed ones
# dropped as new ones come (one small key instead of a key per message).
ACCEPT_SCRIPT = HEAD + FENCE + """
if ARGV[1] == '1' and redis.call('HEXISTS', KEYS[2], 'active') == 0 then return {0} end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZADD', KEYS[1], 'NX', now + tonumber(ARGV[4]) * 1000, ARGV[2]) == 0 then return {-1} end
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('HSETNX', KEYS[2], 'active', '1')
if ARGV[7] == '1' then redis.call('HSETNX', KEYS[2], 'imported', '1') end
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
-- equal scores: members sort by job id, which starts with a fixed-width Slack ts
redis.call('ZADD', KEYS[3], 0, ARGV[2])
redis.call('EXPIRE', KEYS[3], ARGV[6])
redis.call('EXPIRE', KEYS[4], ARGV[6])
if ARGV[8] ~= '' and redis.call('EXISTS', KEYS[5]) == 0 then
  local token = ARGV[8] .. ':' .. next_fence(KEYS[2])
  redis.call('SET', KEYS[5], token, 'PX', ARGV[9])
  return head({2, token}, KEYS[3], KEYS[4], KEYS[6], KEYS[2], KEYS[7], KEYS[8])
end
return {1}
"""

# KEYS: lock, queue, meta
# ARGV: worker, lease ms, a dead worker whose lease may be taken ('' = none)
ACQUIRE_SCRIPT = FENCE + """
local holder = redis.call('GET', KEYS[1])
if holder then
  local dead = ARGV[3]
  if dead == '' or string.sub(holder, 1, #dead + 1) ~= dead .. ':' then return {0} end
end
if redis.call('ZCARD', KEYS[2]) == 0 then
  if holder then redis.call('DEL', KEYS[1]) end
  return {-1}
end
local token = ARGV[1] .. ':' .. next_fence(KEYS[3])
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return {1, token}
"""

# KEYS: lock, meta; ARGV: token, lease ms
RENEW_SCRIPT = FENCE + """
if not ours(KEYS[1], KEYS[2], ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# KEYS: lock, queue, items, partials, meta, messages, last answer; ARGV: token, lease ms
NEXT_SCRIPT = HEAD + FENCE + """
if not ours(KEYS[1], KEYS[5], ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return head({1}, KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
"""

# KEYS: lock, messages, meta, queue, items, partials, last answer
# ARGV: token, job id, remove newest n, replace at index ('' = none), replacement, drop oldest n, ttl, now,
#       imported, release when nothing waits ('1'), last answer record ('' = unchanged), turns...
# Returns 1, or 2 when the lease was released with the queue empty.
COMMIT_SCRIPT = FENCE + """
if not ours(KEYS[1], KEYS[3], ARGV[1]) then return 0 end
local messages = KEYS[2]
-- a job no longer queued was committed already (a retry after a lost reply): write nothing twice
if ARGV[2] == '' or redis.call('ZSCORE', KEYS[4], ARGV[2]) then
  if tonumber(ARGV[3]) > 0 then redis.call('RPOP', messages, ARGV[3]) end
  if ARGV[4] ~= '' then
    local n, at = redis.call('LLEN', messages), tonumber(ARGV[4])
    if (at >= 0 and at < n) or (at < 0 and -at <= n) then redis.call('LSET', messages, at, ARGV[5]) end
  end
  if #ARGV > 11 then redis.call('RPUSH', messages, unpack(ARGV, 12)) end
  if tonumber(ARGV[6]) > 0 then redis.call('LTRIM', messages, ARGV[6], -1) end
  redis.call('HSET', KEYS[3], 'active', '1', 'last_active', ARGV[8])
  if ARGV[9] == '1' then redis.call('HSET', KEYS[3], 'imported', '1') end
  redis.call('EXPIRE', messages, ARGV[7])
  redis.call('EXPIRE', KEYS[3], ARGV[7])
  if ARGV[11] ~= '' then redis.call('SET', KEYS[7], ARGV[11], 'EX', ARGV[7]) end
  if ARGV[2] ~= '' then
    redis.call('ZREM', KEYS[4], ARGV[2])
    redis.call('HDEL', KEYS[5], ARGV[2])
    redis.call('HDEL', KEYS[6], ARGV[2])
  end
end
if ARGV[10] == '1' and redis.call('ZCARD', KEYS[4]) == 0 then
  redis.call('DEL', KEYS[1])
  return 2
end
return 1
"""

# KEYS: lock, queue, meta; ARGV: token, lease ms, hand back ('1': release even with work waiting)
RELEASE_SCRIPT = FENCE + """
if not ours(KEYS[1], KEYS[3], ARGV[1]) then return 0 end
if ARGV[3] ~= '1' and redis.call('ZCARD', KEYS[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
redis.call('DEL', KEYS[1])
return 1
"""

# KEYS: lock, partials, meta; ARGV: token, job id, message ts json, ttl
PARTIAL_SCRIPT = FENCE + """
if not ours(KEYS[1], KEYS[3], ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""


@dataclass(frozen=True)
class Job:
    """One queued thing to do, the messages an earlier attempt left in Slack, and the
    conversation's state when the job was taken (read in the same step)."""

    message: IncomingMessage
    partials: tuple[str, ...] = ()
    state: ConversationState | None = None


@dataclass(frozen=True)
class Commit:
    """What a finished job writes to the conversation's memory, atomically with its removal."""

    new: Sequence[StoredMessage] = ()
    drop_oldest: int = 0
    remove_last: int = 0  # newest turns removed first (a regenerated answer)
    replace_at: int | None = None  # then this turn replaced (as a Python list index)
    replacement: StoredMessage | None = None
    imported: bool = False
    answer: dict[str, Any] | None = None  # the conversation's latest answer record (None: unchanged)
    release: bool = True  # give the lease up in the same step when nothing else waits


@dataclass
class Acceptance:
    outcome: str
    token: str | None = None
    job: Job | None = None  # the first job to do, when leased


class Taken:
    """A job read in a batch (see :meth:`ConversationQueue.accept_in`), once the batch has run."""

    def __init__(self, reply: Reply, settings: Reply, persona: Reply, context: FirstOf,
                 unseal: Callable[[str], str] = str) -> None:
        self._reply, self._settings, self._persona, self._context = reply, settings, persona, context
        self._unseal = unseal

    def acceptance(self) -> Acceptance:
        result = self._reply.get()
        code = int(result[0])
        if code == 2:
            found = self._job(result[2:])
            return Acceptance(LEASED, as_text(result[1]), found[1] if found else None)
        return Acceptance({1: QUEUED, -1: DUPLICATE, 0: NOT_IN_CONVERSATION}[code])

    def _job(self, head: list[Any]) -> tuple[str, Job | None] | None:
        """(job id, job) for the head of the queue; the job is None when its item expired.  None: nothing waits."""
        if not head:
            return None
        job_id, raw, partials, meta, messages, answer = as_text(head[0]), as_text(head[1]), as_text(head[2]), head[3], head[4], head[5]
        raw = self._unseal(raw) if raw else raw
        if not raw:
            return job_id, None  # expired, or sealed with a REDACTION_KEY no longer set
        channel = ChannelConfig.from_replies(self._settings.get(), self._persona.get())
        context = self._context.get()
        return job_id, Job(
            IncomingMessage.from_dict(json.loads(raw)),
            tuple(json.loads(partials)) if partials else (),
            ConversationState.from_replies(dict(zip(meta[::2], meta[1::2])), messages, channel, answer, context),
        )


class LeaseLost(Exception):
    """Someone else holds the conversation now: this worker must not write."""


class ConversationQueue:
    def __init__(self, redis: aioredis.Redis, keys: Keys, *, conversation_ttl: int, lease_ms: int,
                 sealer: Sealer | None = None) -> None:
        self.redis, self.keys, self.ttl, self.lease_ms = redis, keys, conversation_ttl, lease_ms
        self.sealer = sealer  # REDACTION_KEY: a queued job's text is kept encrypted
        self._accept = redis.register_script(ACCEPT_SCRIPT)
        self._acquire = redis.register_script(ACQUIRE_SCRIPT)
        self._renew = redis.register_script(RENEW_SCRIPT)
        self._next = redis.register_script(NEXT_SCRIPT)
        self._commit = redis.register_script(COMMIT_SCRIPT)
        self._release = redis.register_script(RELEASE_SCRIPT)
        self._partial = redis.register_script(PARTIAL_SCRIPT)

    def accept_in(self, batch: Batch, message: IncomingMessage, worker: str | None) -> Taken:
        """Add to ``batch``: claim and queue ``message``; lease its conversation to ``worker``
        when free (None: never), and then read the first job and the conversation's state."""
        cid, k = message.conversation, self.keys
        reply = batch.script(
            self._accept,
            keys=[k.claims(cid), k.meta(cid), k.queue(cid), k.queue_items(cid), k.lock(cid),
                  k.partials(cid), k.messages(cid), k.last_answer(cid)],
            args=[
                "1" if message.answer_requires_known_thread else "0",
                message.job_id,
                sealed_with(self.sealer, json.dumps(message.to_dict())),
                CLAIM_TTL_SECONDS,
                self.ttl,
                QUEUE_TTL_SECONDS,
                "1" if message.thread_ts is None and message.kind == ANSWER else "0",
                worker or "",
                self.lease_ms,
            ],
        )
        return Taken(reply, *self._side_reads(batch, cid), unseal=partial(opened_with, self.sealer))

    def _side_reads(self, batch: Batch, cid: ConversationId) -> tuple[Reply, Reply, FirstOf]:
        """The channel's settings and persona, and a DM thread's context (other slots: beside the script)."""
        settings = batch.command("HGETALL", self.keys.channel_settings(cid.team, cid.channel))
        persona = batch.command("GET", self.keys.persona(cid.team, cid.channel))
        return settings, persona, FirstOf(*(batch.command("GET", key) for key in self.keys.contexts_of(cid)))

    async def acquire(self, cid: ConversationId, worker: str, *, dead_worker: str = "") -> str | None:
        """Lease ``cid`` if it has work and no holder (or only ``dead_worker``); the token, or None."""
        k = self.keys
        result = await self._acquire(keys=[k.lock(cid), k.queue(cid), k.meta(cid)], args=[worker, self.lease_ms, dead_worker])
        return as_text(result[1]) if int(result[0]) == 1 else None

    async def renew(self, cid: ConversationId, token: str) -> bool:
        return bool(await self._renew(keys=[self.keys.lock(cid), self.keys.meta(cid)], args=[token, self.lease_ms]))

    async def next(self, cid: ConversationId, token: str) -> Job | None:
        """The oldest waiting job (it stays queued until committed), with the conversation's
        state.  Raises LeaseLost."""
        k = self.keys
        batch = Batch()
        reply = batch.script(self._next, keys=[k.lock(cid), k.queue(cid), k.queue_items(cid), k.partials(cid), k.meta(cid),
                                               k.messages(cid), k.last_answer(cid)], args=[token, self.lease_ms])
        taken = Taken(reply, *self._side_reads(batch, cid), unseal=partial(opened_with, self.sealer))
        await batch.run(self.redis)
        result = reply.get()
        if not result or int(result[0]) == 0:
            raise LeaseLost(str(cid))
        found = taken._job(result[1:])
        if found is None:
            return None
        job_id, job = found
        if job is None:  # an id without its item (expired): drop it
            await self.commit(cid, token, job_id, Commit(release=False))
            return await self.next(cid, token)
        return job

    def commit_in(self, batch: Batch, cid: ConversationId, token: str, job_id: str, commit: Commit, *, now: float = 0.0) -> Reply:
        """Add to ``batch``: write ``commit`` and remove job ``job_id`` (\"\" = remove nothing),
        atomically; see :meth:`committed` for the reply."""
        k = self.keys
        reply = batch.script(
            self._commit,
            keys=[k.lock(cid), k.messages(cid), k.meta(cid), k.queue(cid), k.queue_items(cid), k.partials(cid),
                  k.last_answer(cid)],
            args=[
                token,
                job_id,
                commit.remove_last,
                "" if commit.replace_at is None or commit.replacement is None else commit.replace_at,
                commit.replacement.to_json() if commit.replacement is not None else "",
                commit.drop_oldest,
                self.ttl,
                repr(now),
                "1" if commit.imported else "0",
                "1" if commit.release else "0",
                json.dumps(commit.answer, separators=(",", ":")) if commit.answer is not None else "",
                *(m.to_json() for m in commit.new),
            ],
        )
        if commit.new:  # the channel's index of conversations (another slot: beside the script)
            index = k.channel_conversations(cid.team, cid.channel)
            batch.command("SADD", index, cid.thread)
            batch.command("EXPIRE", index, self.ttl)
        return reply

    @staticmethod
    def committed(reply: Reply, cid: ConversationId) -> bool:
        """Whether a commit also released the lease (nothing else waited).  Raises LeaseLost."""
        result = int(reply.get() or 0)
        if not result:
            raise LeaseLost(str(cid))
        return result == 2

    async def commit(self, cid: ConversationId, token: str, job_id: str, commit: Commit, *, now: float = 0.0) -> bool:
        """Write ``commit`` and remove job ``job_id``; True when the lease was released too.  Raises LeaseLost."""
        batch = Batch()
        reply = self.commit_in(batch, cid, token, job_id, commit, now=now)
        await batch.run(self.redis)
        return self.committed(reply, cid)

    async def release(self, cid: ConversationId, token: str, *, hand_back: bool = False) -> bool:
        """Give the lease up.  False when more work arrived (the lease is kept: carry on)."""
        return int(await self._release(keys=[self.keys.lock(cid), self.keys.queue(cid), self.keys.meta(cid)],
                                       args=[token, self.lease_ms, "1" if hand_back else "0"])) != 2

    def record_partial_in(self, batch: Batch, cid: ConversationId, token: str, job_id: str, posted: Sequence[str]) -> Reply:
        return batch.script(self._partial, keys=[self.keys.lock(cid), self.keys.partials(cid), self.keys.meta(cid)],
                            args=[token, job_id, json.dumps(list(posted)), QUEUE_TTL_SECONDS])

    async def record_partial(self, cid: ConversationId, token: str, job_id: str, posted: Sequence[str]) -> None:
        """Remember the messages a job has shown so far, so whoever finishes it can replace them."""
        batch = Batch()
        self.record_partial_in(batch, cid, token, job_id, posted)
        await batch.run(self.redis)

    async def waiting(self, cid: ConversationId) -> int:
        return int(await self.redis.zcard(self.keys.queue(cid)))

