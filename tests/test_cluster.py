"""The store on a real 3-primary Redis Cluster: the bot finds the cluster from any node,
every multi-key step stays in one slot, and moving slots between nodes while answers
are being written loses and doubles nothing.  And on a primary watched by a Sentinel,
through a failover."""

from __future__ import annotations

import asyncio
import threading

from redis.crc import key_slot

from bot.memory.conversation import ConversationId, Keys
from bot.memory.connection import open_redis

from .fakes.openai_api import Scripted
from .fakes.slack_api import TEAM_ID
from .harness import SlackSender, mention, message, settled, sync_client
from .redis_servers import migrate_slot, node, owner_of, start_sentinel_pair, wait_until


def slot_of(tag: str) -> int:
    return key_slot(("{" + tag + "}").encode())


def test_the_cluster_is_found_from_any_node_and_keys_spread_over_every_node(start_app, slack, model, cluster_ports,
                                                                          key_prefix, sender_for):
    app = start_app(REDIS_URL=f"redis://127.0.0.1:{cluster_ports[2]}/0")
    sender = sender_for(app)
    firsts = [mention(f"thread {n}") for n in range(12)]
    for event in firsts:
        sender.send_event(event)
    slack.wait_for_answers(12)
    settled(app)  # every answer's commit (after its last Slack update) is done
    owners = {owner_of(cluster_ports, slot_of(str(ConversationId(TEAM_ID, "C100", e["ts"])))) for e in firsts}
    assert owners == set(cluster_ports)  # twelve conversations: every node holds some
    client = sync_client(f"redis://127.0.0.1:{cluster_ports[0]}/0")
    try:
        for event in firsts:
            assert len(client.lrange(Keys(key_prefix).messages(ConversationId(TEAM_ID, "C100", event["ts"])), 0, -1)) == 2
    finally:
        client.close()


def test_a_slot_migration_mid_run_loses_and_doubles_nothing(start_app, slack, model, cluster_ports, key_prefix):
    """Five threads take turns while the slots of two conversations, of the delivery keys and of
    the workspace's budget and usage move to other nodes (as redis-cli's resharding moves them)."""
    app = start_app(REDIS_URL=f"redis://127.0.0.1:{cluster_ports[0]}/0")
    sender = SlackSender(app.url)
    try:
        roots = [mention(f"start {n}") for n in range(5)]
        for root in roots:
            sender.send_event(root)
        slack.wait_for_answers(5)
        cids = [ConversationId(TEAM_ID, "C100", root["ts"]) for root in roots]
        moving = [slot_of(str(cids[0])), slot_of(str(cids[1])), slot_of("delivery"), slot_of(TEAM_ID)]
        model.enqueue(*[Scripted(delay=0.01, chunk_chars=4) for _ in range(60)])  # answers stream while slots move

        def talk() -> None:
            for turn in range(6):
                for root in roots:
                    sender.send_event(message(f"turn {turn}", thread_ts=root["ts"]))

        talking = threading.Thread(target=talk)
        talking.start()
        slack.wait_for(lambda s: len(s.posts()) >= 12 or None)  # answers are under way
        assert len(slack.posts()) < 35  # the slots move while answers are still to come
        moved, sources = 0, {}
        for slot in moving:
            sources[slot] = owner_of(cluster_ports, slot)
            moved += migrate_slot(cluster_ports, slot, next(p for p in cluster_ports if p != sources[slot]))
        talking.join()
        answers = slack.wait_for_answers(35, timeout=60)
        assert moved > 0
        assert all(owner_of(cluster_ports, slot) != source for slot, source in sources.items())
        for root, cid in zip(roots, cids):
            in_thread = [a.text for a in answers if a.thread_ts == root["ts"]]
            assert in_thread == [f"Answer to: alice: start {cids.index(cid)}"] + [
                f"Answer to: alice: turn {turn}" for turn in range(6)], in_thread
            turns = app.wait_stored(cid, 14)
            assert [t.content.rsplit("\n", 1)[-1] for t in turns if t.role == "user"] == [
                f"start {cids.index(cid)}", *(f"turn {turn}" for turn in range(6))]
        assert len(slack.posts()) == 35  # nothing answered twice
    finally:
        sender.close()


def test_a_sentinel_url_finds_the_primary_and_follows_it_when_the_primary_dies(start_app, slack, model, key_prefix):
    servers, primary, sentinel = start_sentinel_pair("assistant")
    try:
        app = start_app(REDIS_URL=f"redis+sentinel://127.0.0.1:{sentinel}/assistant")
        sender = SlackSender(app.url)
        try:
            first = mention("before the failover")
            sender.send_event(first)
            slack.wait_for_answers(1)
            replica = next(p for p in servers.ports if p != primary)
            key = Keys(key_prefix).messages(ConversationId(TEAM_ID, "C100", first["ts"]))
            wait_until(lambda: node(replica).llen(key) == 2, "the replica to have the conversation")
            servers.kill(primary)
            wait_until(lambda: int(node(sentinel).execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "assistant")[1])
                       == replica and node(replica).info("replication")["role"] == "master", "the failover")
            sender.send_event(message("after the failover", thread_ts=first["ts"]))
            answers = slack.wait_for_answers(2, timeout=30)
            assert answers[1].text == "Answer to: alice: after the failover"
            turns = app.wait_stored(ConversationId(TEAM_ID, "C100", first["ts"]), 4)
            assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
            assert node(replica).llen(key) == 4
        finally:
            sender.close()
            app.stop()  # before its Redis goes
    finally:
        servers.stop()


async def test_a_burst_waits_for_the_cluster_connections_instead_of_failing(redis_cluster_url, key_prefix):
    """More commands and pipelines at once than a node's connection limit: each waits its turn."""
    client = await open_redis(redis_cluster_url, max_connections=6)
    counter = f"{key_prefix}:{{burst}}:n"

    async def piped() -> list:
        async with client.pipeline(transaction=False) as pipe:
            pipe.incr(counter)
            pipe.incr(f"{key_prefix}:{{elsewhere}}:n")
            return await pipe.execute()

    try:
        results = await asyncio.gather(*(client.incr(counter) for _ in range(200)), *(piped() for _ in range(100)))
        assert sorted(r if isinstance(r, int) else r[0] for r in results) == list(range(1, 301))
    finally:
        await client.delete(counter, f"{key_prefix}:{{elsewhere}}:n")
        await client.aclose()
