"""The store against a real Redis server and the embedded one: same logic, same results."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from bot.memory.conversation import ConversationId, StoredMessage
from bot.slack.events import IncomingMessage
from bot.memory.store import Acceptance, ConversationStore, connect


@pytest.fixture(params=["redis", "embedded"])
async def store(request, redis_url, key_prefix):
    client = aioredis.Redis.from_url(redis_url, decode_responses=True) if request.param == "redis" else connect(None)
    yield ConversationStore(client, key_prefix=key_prefix, ttl_seconds=600, lock_ttl_seconds=1)
    await client.aclose()


def incoming(ts: str, *, thread_ts: str | None = "1600000000.000100", mentioned: bool = False) -> IncomingMessage:
    return IncomingMessage(team="T1", channel="C1", channel_type="channel", user="U1", text="hi", ts=ts,
                           thread_ts=thread_ts, mentioned=mentioned, source="message")


async def test_accept_claims_once_and_queues_in_ts_order(store):
    thread = "1600000000.000100"
    first = incoming("1600000005.000001", mentioned=True)
    assert await store.accept(first) is Acceptance.ACCEPTED
    assert await store.accept(first) is Acceptance.DUPLICATE
    for ts in ("1600000009.000001", "1600000007.000001", "1600000010.000001"):
        assert await store.accept(incoming(ts)) is Acceptance.ACCEPTED
    cid = ConversationId("T1", "C1", thread)
    order = []
    while (message := await store.pop_next(cid)) is not None:
        order.append(message.ts)
    assert order == ["1600000005.000001", "1600000007.000001", "1600000009.000001", "1600000010.000001"]


async def test_unmentioned_message_in_unknown_thread_is_not_claimed(store):
    message = incoming("1600000005.000001")
    assert await store.accept(message) is Acceptance.NOT_IN_CONVERSATION
    assert not await store.has_waiting(message.conversation)
    # Mentioned later (the twin app_mention of the same message) it is still claimable.
    assert await store.accept(incoming("1600000005.000001", mentioned=True)) is Acceptance.ACCEPTED


async def test_turns_are_appended_trimmed_and_expire(store):
    cid = ConversationId("T1", "C1", "1.0")
    turns = [StoredMessage("user", f"m{n}", 5, ts=str(n)) for n in range(6)]
    await store.save_turn(cid, turns[:4])
    await store.save_turn(cid, turns[4:], drop_oldest=3, imported=True)
    state = await store.load(cid)
    assert [m.content for m in state.messages] == ["m3", "m4", "m5"]
    assert state.active and state.imported and state.last_active > 0
    assert 0 < await store.redis.ttl(store.keys.messages(cid)) <= 600
    await store.forget(cid)
    assert (await store.load(cid)).messages == []


async def test_lock_is_exclusive_and_expires(store):
    cid = ConversationId("T1", "C1", "1.0")
    holder, other = store.lock(cid), store.lock(cid)
    assert await holder.acquire()
    assert not await other.acquire()
    await asyncio.sleep(1.2)  # the holder died without releasing: its lock expires
    assert await other.acquire()
    await other.release()
