"""The store and the delivery queue against a real Redis server and the embedded one: same logic, same results."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.delivery.lease import Lease
from bot.delivery.queue import (DUPLICATE, LEASED, NOT_IN_CONVERSATION, QUEUED, Acceptance, Commit, ConversationQueue,
                                LeaseLost)
from bot.delivery.workers import Workers, conversation_of, member_for
from bot.memory.batch import Batch
from bot.memory.conversation import ConversationId, StoredMessage
from bot.memory.store import ConversationStore
from bot.memory.connection import open_redis
from bot.slack.events import IncomingMessage

THREAD = "1600000000.000100"


@pytest.fixture(params=["redis", "embedded", "cluster"])
async def store(request, redis_url, key_prefix):
    url = request.getfixturevalue("redis_cluster_url") if request.param == "cluster" else redis_url
    client = await open_redis(None if request.param == "embedded" else url)
    yield ConversationStore(client, key_prefix=key_prefix, ttl_seconds=600)
    await client.aclose()


@pytest.fixture
def queue(store):
    return ConversationQueue(store.redis, store.keys, conversation_ttl=600, lease_ms=1000)


async def accept(queue: ConversationQueue, message: IncomingMessage, worker: str | None) -> Acceptance:
    """Claim, queue and maybe lease ``message``, as the dispatcher does (in a batch of its own)."""
    batch = Batch()
    taken = queue.accept_in(batch, message, worker)
    await batch.run(queue.redis)
    return taken.acceptance()


def incoming(ts: str, *, thread_ts: str | None = THREAD, mentioned: bool = False) -> IncomingMessage:
    return IncomingMessage(team="T1", channel="C1", channel_type="channel", user="U1", text="hi", ts=ts,
                           thread_ts=thread_ts, mentioned=mentioned, source="message")


async def test_accept_claims_once_leases_once_and_keeps_ts_order(queue):
    first = incoming("1600000005.000001", mentioned=True)
    accepted = await accept(queue, first, "w1")
    assert accepted.outcome == LEASED and accepted.token.startswith("w1:")
    assert (await accept(queue, first, "w2")).outcome == DUPLICATE
    for ts in ("1600000009.000001", "1600000007.000001", "1600000010.000001"):
        assert (await accept(queue, incoming(ts), "w2")).outcome == QUEUED, "w1 holds the conversation"
    cid = ConversationId("T1", "C1", THREAD)
    order = []
    while (job := await queue.next(cid, accepted.token)) is not None:
        order.append(job.message.ts)
        await queue.commit(cid, accepted.token, job.message.job_id, Commit())
    assert order == ["1600000005.000001", "1600000007.000001", "1600000009.000001", "1600000010.000001"]
    assert await queue.release(cid, accepted.token)


async def test_unmentioned_message_in_unknown_thread_is_not_claimed(queue):
    message = incoming("1600000005.000001")
    assert (await accept(queue, message, "w1")).outcome == NOT_IN_CONVERSATION
    assert await queue.waiting(message.conversation) == 0
    # Mentioned later (the twin app_mention of the same message) it is still claimable.
    assert (await accept(queue, incoming("1600000005.000001", mentioned=True), "w1")).outcome == LEASED


async def test_a_job_stays_queued_until_committed_with_its_turns(queue, store):
    message = incoming("1600000005.000001", mentioned=True)
    token = (await accept(queue, message, "w1")).token
    cid = message.conversation
    job = await queue.next(cid, token)
    assert job is not None and job.partials == ()
    await queue.record_partial(cid, token, job.message.job_id, ["1700000001.000001"])
    again = await queue.next(cid, token)  # the worker died here: the job is still there, with what it showed
    assert again.message == job.message and again.partials == ("1700000001.000001",)
    turns = [StoredMessage("user", "q", 2, ts=message.ts), StoredMessage("assistant", "a", 2, ts="1700000001.000001")]
    await queue.commit(cid, token, job.message.job_id, Commit(new=turns, imported=True))
    assert await queue.next(cid, token) is None
    state = await store.load(cid)
    assert [t.content for t in state.messages] == ["q", "a"] and state.imported


async def test_a_lapsed_lease_taken_over_fences_the_old_holder(queue):
    message = incoming("1600000005.000001", mentioned=True)
    old = (await accept(queue, message, "w1")).token
    cid = message.conversation
    assert await queue.acquire(cid, "w2") is None, "held: nobody else may take it"
    await asyncio.sleep(1.1)  # w1 stalls past its lease
    new = await queue.acquire(cid, "w2")
    assert new.startswith("w2:") and fence(new) > fence(old)
    assert not await queue.renew(cid, old)
    with pytest.raises(LeaseLost):
        await queue.commit(cid, old, message.job_id, Commit(new=[StoredMessage("assistant", "late", 1)]))
    with pytest.raises(LeaseLost):
        await queue.next(cid, old)
    assert (await queue.next(cid, new)).message == message
    # Once the new holder lets go, the old token is still refused: fences are compared by order.
    await queue.commit(cid, new, message.job_id, Commit())
    assert await queue.release(cid, new) or True
    assert not await queue.renew(cid, old)
    with pytest.raises(LeaseLost):
        await queue.commit(cid, old, "", Commit(new=[StoredMessage("assistant", "late", 1)]))


def fence(token: str) -> int:
    return int(token.rsplit(":", 1)[1])


async def test_fences_keep_growing_after_a_conversation_is_forgotten(queue, store):
    message = incoming("1600000005.000001", mentioned=True)
    old = (await accept(queue, message, "w1")).token
    await queue.commit(message.conversation, old, message.job_id, Commit(new=[StoredMessage("user", "hi", 1)]))
    assert await store.forget_channel("T1", "C1") == 1  # its meta (and the fence kept there) goes too
    second = incoming("1600000006.000001", mentioned=True)
    again = await accept(queue, second, "w1")
    assert again.outcome == LEASED and again.token != old and fence(again.token) > fence(old)
    assert await queue.commit(message.conversation, again.token, second.job_id, Commit()), "released: nothing waits"
    with pytest.raises(LeaseLost):  # the token from before the forget never writes again
        await queue.commit(message.conversation, old, "", Commit(new=[StoredMessage("assistant", "late", 1)]))


async def test_a_lapsed_lease_nobody_took_is_still_ours(queue):
    message = incoming("1600000005.000001", mentioned=True)
    token = (await accept(queue, message, "w1")).token
    await asyncio.sleep(1.1)
    assert await queue.renew(message.conversation, token)
    assert await queue.acquire(message.conversation, "w2") is None


async def test_a_dead_workers_lease_is_taken_at_once(queue):
    message = incoming("1600000005.000001", mentioned=True)
    await accept(queue, message, "wdead")
    assert (await queue.acquire(message.conversation, "w2", dead_worker="wdead") or "").startswith("w2:")


async def test_a_commit_releases_the_lease_only_when_nothing_else_waits(queue):
    first = incoming("1600000007.000001", mentioned=True)
    acceptance = await accept(queue, first, "w1")
    cid = first.conversation
    assert acceptance.job is not None and acceptance.job.message == first, "the first job comes with the lease"
    await accept(queue, incoming("1600000007.000002"), "w2")
    assert not await queue.commit(cid, acceptance.token, first.job_id, Commit()), "more work waits: the lease is kept"
    second = await queue.next(cid, acceptance.token)
    assert second is not None and second.message.ts == "1600000007.000002"
    assert await queue.commit(cid, acceptance.token, second.message.job_id, Commit()), "the queue is empty: released"
    assert await queue.acquire(cid, "w2") is None, "nothing waits"
    third = await accept(queue, incoming("1600000007.000003"), "w2")
    assert third.outcome == LEASED and fence(third.token) > fence(acceptance.token)


async def test_a_commit_retried_after_a_lost_reply_writes_nothing_twice(queue, store):
    first = incoming("1600000008.000001", mentioned=True)
    acceptance = await accept(queue, first, "w1")
    cid = first.conversation
    turn = StoredMessage("user", "hello", 5, first.ts, "U1")
    await accept(queue, incoming("1600000008.000002"), "w1")  # keeps the lease after the commit
    await queue.commit(cid, acceptance.token, first.job_id, Commit(new=[turn]))
    await queue.commit(cid, acceptance.token, first.job_id, Commit(new=[turn]))  # the same commit, sent again
    assert [m.content for m in (await store.load(cid)).messages] == ["hello"]


async def test_release_keeps_the_lease_when_work_arrived(queue):
    first = incoming("1600000005.000001", mentioned=True)
    token = (await accept(queue, first, "w1")).token
    cid = first.conversation
    assert not await queue.commit(cid, token, first.job_id, Commit(release=False))
    await accept(queue, incoming("1600000006.000001"), "w2")  # arrives just before w1 lets go
    assert not await queue.release(cid, token), "more work: w1 keeps the lease and carries on"
    assert await queue.acquire(cid, "w2") is None
    assert await queue.release(cid, token, hand_back=True)
    assert await queue.acquire(cid, "w2") is not None


async def test_workers_adopt_a_dead_workers_conversations_once(store):
    alive = Workers(store.redis, store.keys, worker_id="w-alive", lease_ms=50)
    dead = Workers(store.redis, store.keys, worker_id="w-dead", lease_ms=50)
    other = Workers(store.redis, store.keys, worker_id="w-other", lease_ms=50)
    cid = ConversationId("T1", "C1", THREAD)
    member = member_for(cid)
    await dead.heartbeat()
    await dead.hold(member)
    await alive.heartbeat()
    await asyncio.sleep(0.1)
    await alive.heartbeat()
    assert await alive.dead() == ["w-dead"]
    [held] = await alive.held_by("w-dead")
    adopted = await alive.adopt("w-dead", held)
    assert adopted is not None and conversation_of(adopted) == cid
    assert await other.adopt("w-dead", held) is None, "adopted once"
    assert await alive.bury("w-dead")
    assert await alive.dead() == []


async def test_ready_list_hands_work_to_a_process_with_room(store):
    busy = Workers(store.redis, store.keys, worker_id="w-busy", lease_ms=1000)
    free = Workers(store.redis, store.keys, worker_id="w-free", lease_ms=1000)
    cid = ConversationId("T1", "C1", THREAD)
    member = member_for(cid)
    await busy.hold(member)
    await busy.to_ready(member, cid)
    assert await busy.held_by("w-busy") == []
    taken = await free.take_ready()
    assert taken is not None and conversation_of(taken) == cid
    assert await free.held_by("w-free") == [taken]
    assert await free.take_ready() is None


async def test_turns_are_appended_trimmed_and_expire(queue, store):
    message = incoming("1600000005.000001", mentioned=True)
    cid = message.conversation
    token = (await accept(queue, message, "w1")).token
    turns = [StoredMessage("user", f"m{n}", 5, ts=str(n)) for n in range(6)]
    await queue.commit(cid, token, "", Commit(new=turns[:4], release=False), now=time.time())
    await queue.commit(cid, token, message.job_id, Commit(new=turns[4:], drop_oldest=3, imported=True), now=time.time())
    state = await store.load(cid)
    assert [m.content for m in state.messages] == ["m3", "m4", "m5"]
    assert state.active and state.imported and state.last_active > 0
    assert 0 < await store.redis.ttl(store.keys.messages(cid)) <= 600
    assert await store.forget_channel("T1", "C1") == 1
    assert (await store.load(cid)).messages == []


async def test_a_renewal_killed_mid_answer_leaves_nothing_locked(queue):
    message = incoming("1600000009.000001", mentioned=True)
    acceptance = await accept(queue, message, "w1")
    cid = message.conversation
    lease = Lease(queue, cid, acceptance.token, seconds=1.0)
    async with lease.kept():
        lease.renewer.cancel()  # the renewal dies mid-answer
        await asyncio.wait_for(lease.lost.wait(), 3.0)  # the lease lapses on its own clock
        assert not lease.valid, "the work under it stops writing"
    deadline = asyncio.get_running_loop().time() + 2.0  # the lease's time in Redis runs out just after
    while (taken := await queue.acquire(cid, "w2")) is None and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    assert taken is not None, "nothing stays locked: another worker takes it once the lease ran out"


async def test_no_renewal_after_the_commit_that_released_the_lease(queue, store):
    for n in range(6):
        message = incoming(f"1600000010.{n:06d}", mentioned=True)
        acceptance = await accept(queue, message, "w1")
        cid = message.conversation
        lease = Lease(queue, cid, acceptance.token, seconds=1.0)
        async with lease.kept():
            await asyncio.sleep(0.33)  # a renewal is due about now: it races the commit
            async with lease.io:
                assert await queue.commit(cid, acceptance.token, message.job_id, Commit())
                lease.released()
        await asyncio.sleep(0.4)
        assert not await store.redis.exists(store.keys.lock(cid)), f"round {n}: a late renewal leased it again"


async def test_each_occurrence_of_a_schedule_is_claimed_once_however_many_ask(store):
    from datetime import datetime, timedelta, timezone

    from bot.schedules.store import Schedule, ScheduleStore, ms

    schedules = ScheduleStore(store.redis, store.keys)
    now = datetime(2026, 12, 7, 8, 0, tzinfo=timezone.utc)
    schedule = Schedule("s1", "T1", "C1", "U1", "summarise", "0 9 * * 1-5", "Europe/Paris", "every weekday at 9:00")
    await schedules.add(schedule, now)
    [(found, member, occurrence)] = await schedules.due(now)
    assert found == schedule and occurrence == ms(now)
    following = schedule.when.next_after(now)
    assert following == now + timedelta(days=1), "9:00 in Paris is 8:00 UTC in December"
    won = await asyncio.gather(*(schedules.claim(member, occurrence, following) for _ in range(20)))
    assert won.count(True) == 1, "exactly one claimant runs it"
    assert await schedules.due(now) == [], "and it moved on to the next time"
    [(_, upcoming)] = await schedules.of_channel("T1", "C1")
    assert upcoming == following
    assert await schedules.forget(["T1"], "C2") == 0 and await schedules.forget(["T1"], "C1") == 1
    assert await schedules.all() == [] and await schedules.of_channel("T1", "C1") == []
