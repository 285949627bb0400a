"""Conversation memory, de-duplication and per-conversation queues in Redis.

One implementation serves both modes: a real Redis server (``REDIS_URL``) or,
without one, an embedded in-process Redis (fakeredis) running the very same
commands and scripts.

Per conversation (all keys in one hash slot, all with the conversation TTL):

- ``messages``: a list of JSON turns, each a compact array (role, content, token
  count, ts, user; tool calls and call id when present).
  It only ever holds the window the model still sees; trimming drops a chunk
  from its head with LTRIM.
- ``meta``: a hash with ``active`` (the bot takes part), ``imported`` (the
  thread's earlier messages were read from Slack once) and ``last_active``.
- ``answer``: the latest answer's record (its messages, who asked, prompt and
  model), for its Regenerate button; one per conversation, replaced by the next.
- ``queue``, ``queue-items``, ``partials``, ``lock`` and ``claims``: the
  conversation's work, written by ``bot.delivery.queue``.

Per channel, an index of every conversation and record kept for it (ratings,
assistant thread context), so a reset forgets all of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Sequence

import redis.asyncio as aioredis

from bot.channels.config import ChannelConfig
from bot.memory.conversation import VIEWING, ConversationId, Keys, StoredMessage, as_text

CLAIM_TTL_SECONDS = 6 * 3600  # longer than Slack's whole retry schedule
NAME_TTL_SECONDS = 24 * 3600


@dataclass
class ConversationState:
    messages: list[StoredMessage] = field(default_factory=list)
    active: bool = False
    imported: bool = False
    last_active: float = 0.0
    channel: ChannelConfig = field(default_factory=ChannelConfig)  # the channel's settings and persona
    thread_context: dict[str, str] | None = None  # an assistant thread's: what its user is looking at
    last_answer: dict[str, Any] | None = None  # the latest answer's record (see Responder)
    redaction: str | None = None  # the conversation's placeholders (bot/guardrails/redaction.py), sealed
    summary: str | None = None  # what was said before the window (bot/answer/remember.py)

    @classmethod
    def from_replies(
        cls, meta: dict[Any, Any], messages: Sequence[Any], channel: ChannelConfig, answer: Any, context: Any = None
    ) -> "ConversationState":
        """The state from Redis's replies: the meta hash, the window, the channel's settings, the
        latest answer record and an assistant thread's context (None or missing where absent)."""
        fields = {as_text(k): as_text(v) for k, v in meta.items()}
        return cls(
            messages=StoredMessage.many_from_json([as_text(m) for m in messages]),
            active="active" in fields,
            imported="imported" in fields,
            last_active=float(fields.get("last_active", 0) or 0),
            channel=channel,
            thread_context=json.loads(context) if context else None,
            last_answer=json.loads(answer) if answer else None,
            redaction=fields.get("redaction"),
            summary=fields.get("summary"),
        )

    @property
    def persona(self) -> str | None:
        return self.channel.persona


class ConversationStore:
    def __init__(self, redis: aioredis.Redis, *, key_prefix: str, ttl_seconds: int) -> None:
        self.redis = redis
        self.keys = Keys(key_prefix)
        self.ttl = ttl_seconds

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    async def close(self) -> None:
        await self.redis.aclose()

    # --- memory ------------------------------------------------------------
    async def load(self, cid: ConversationId) -> ConversationState:
        """The conversation's window and state, and its channel's settings, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.meta(cid))
            pipe.lrange(self.keys.messages(cid), 0, -1)
            pipe.hgetall(self.keys.channel_settings(cid.team, cid.channel))
            pipe.get(self.keys.persona(cid.team, cid.channel))
            pipe.get(self.keys.last_answer(cid))
            for key in self.keys.contexts_of(cid):
                pipe.get(key)
            meta, raw_messages, settings, persona, answer, *contexts = await pipe.execute()
        context = next((found for found in contexts if found is not None), None)
        return ConversationState.from_replies(meta, raw_messages, ChannelConfig.from_replies(settings, persona), answer, context)

    async def forget_channel(self, team: str, channel: str) -> int:
        """Forget everything kept for ``channel``: its conversations (turns and work),
        answers, ratings, assistant thread context, settings and persona.  Returns how many
        conversations were forgotten."""
        conversations = self.keys.channel_conversations(team, channel)
        record_sets = [self.keys.channel_records(team, channel), self.keys.channel_records("", channel)]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.smembers(conversations)
            for index in record_sets:
                pipe.smembers(index)
            threads, *records = await pipe.execute()
        keys = [conversations, *record_sets, self.keys.persona(team, channel), self.keys.channel_settings(team, channel)]
        for thread in threads:
            cid = ConversationId(team, channel, as_text(thread))
            keys += [self.keys.messages(cid), self.keys.meta(cid), self.keys.queue(cid), self.keys.queue_items(cid),
                     self.keys.partials(cid), self.keys.last_answer(cid)]
        keys += [as_text(key) for found in records for key in found]
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:  # one key a command: keys of many conversations live in many cluster slots
                pipe.execute_command("UNLINK", key)  # (the cluster pipeline's own unlink is a coroutine)
            await pipe.execute()
        return len(threads)

    # --- a channel's settings (its persona kept under its own key, as before settings) ---
    async def channel_config(self, team: str, channel: str) -> ChannelConfig:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.channel_settings(team, channel))
            pipe.get(self.keys.persona(team, channel))
            settings, persona = await pipe.execute()
        return ChannelConfig.from_replies(settings, persona)

    async def set_channel_setting(self, team: str, channel: str, key: str, value: str | None) -> None:
        """Set (or with None, remove) one of a channel's settings; ``persona`` is its own key."""
        if key == "persona":
            await self.set_persona(team, channel, value)
        elif value is None:
            await self.redis.hdel(self.keys.channel_settings(team, channel), key)
        else:
            await self.redis.hset(self.keys.channel_settings(team, channel), key, value)

    async def get_persona(self, team: str, channel: str) -> str | None:
        value = await self.redis.get(self.keys.persona(team, channel))
        return None if value is None else as_text(value)

    async def set_persona(self, team: str, channel: str, text: str | None) -> None:
        if text is None:
            await self.redis.delete(self.keys.persona(team, channel))
        else:
            await self.redis.set(self.keys.persona(team, channel), text)

    # --- token usage -----------------------------------------------------------
    # --- feedback ------------------------------------------------------------
    async def _save_record(self, index: str, key: str, value: dict[str, object]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(key, json.dumps(value), ex=self.ttl)
            pipe.sadd(index, key)
            pipe.expire(index, self.ttl)
            await pipe.execute()

    async def save_feedback(self, team: str, channel: str, ts: str, user: str, entry: dict[str, object]) -> None:
        """One rating per answer and person (their second click replaces their first); kept as long as conversations."""
        await self._save_record(self.keys.channel_records(team, channel), self.keys.feedback(team, channel, f"{ts}:{user}"), entry)

    async def all_feedback(self) -> AsyncIterator[dict[str, object]]:
        async for key in self.redis.scan_iter(match=self.keys.feedback_pattern(), count=500):
            raw = await self.redis.get(key)
            if raw is not None:
                yield json.loads(raw)

    # --- assistant threads ----------------------------------------------------
    async def save_thread_context(self, channel: str, thread_ts: str, context: dict[str, str]) -> None:
        await self._save_record(self.keys.channel_records("", channel), self.keys.thread_context(channel, thread_ts), context)

    async def forget_thread_context(self, channel: str, thread_ts: str) -> None:
        await self.redis.delete(self.keys.thread_context(channel, thread_ts))

    async def first_visit(self, team: str, channel: str, user: str) -> bool:
        """Agent view: ``user`` opened their DM ``channel`` with the bot; True the first time
        (kept as long as conversations, forgotten with the channel)."""
        marker = self.keys.thread_once("greeting", channel, VIEWING)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self.keys.user_dm(team, user), channel, ex=self.ttl)
            pipe.set(marker, "1", nx=True, ex=self.ttl)
            pipe.sadd(self.keys.channel_records("", channel), marker)
            pipe.expire(self.keys.channel_records("", channel), self.ttl)
            _, first, _, _ = await pipe.execute()
        return bool(first)

    async def dm_of(self, team: str, user: str) -> str | None:
        """The user's DM with the bot, when they have opened it."""
        found = await self.redis.get(self.keys.user_dm(team, user))
        return None if found is None else as_text(found)

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
        return None if value is None else as_text(value)

    async def set_name(self, team: str, slack_id: str, name: str) -> None:
        await self.redis.set(self.keys.name(team, slack_id), name, ex=NAME_TTL_SECONDS)
