"""A 200 means the message is safe: the event is in Redis before its 200 goes out, so a
kill -9 at any instant after it loses nothing; another process answers it within the lease."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from .harness import SlackSender, mention, sync_client


def test_kill_9_right_after_the_200s_loses_no_message(start_process, slack, model, redis_url, key_prefix):
    first, second = start_process(LEASE_SECONDS=2), start_process(LEASE_SECONDS=2)
    events = [mention(f"burst {n}", channel="C100") for n in range(60)]
    senders = [SlackSender(first.url) for _ in range(8)]
    try:
        with ThreadPoolExecutor(8) as pool:  # a burst: the acks go first, the work behind them waits
            statuses = list(pool.map(lambda n: senders[n % 8].send_event(events[n]).status_code, range(len(events))))
        first.kill()  # right after its last 200: some events are acknowledged but not yet queued
    finally:
        for sender in senders:
            sender.close()
    assert statuses == [200] * len(events)
    try:
        answers = slack.wait_for_answers(len(events), timeout=40)
    except AssertionError:
        answered = {m.thread_ts for m in slack.posts("C100")}
        raise AssertionError(f"{len(events) - len(answered)} acknowledged messages were never answered") from None
    assert sorted(a.thread_ts for a in answers) == sorted(e["ts"] for e in events)  # every one, once
    time.sleep(2 * 2 + 1)  # past the lease and a sweep: nothing more is posted
    assert len(slack.posts("C100")) == len(events)
    client = sync_client(redis_url)
    try:  # nothing is left in any inbox
        assert [k for k in client.scan_iter(match=f"{key_prefix}:*inbox*") if client.llen(k)] == []
    finally:
        client.close()
    # The kill landed where it matters: the survivor handled events the dead process had only acknowledged
    # (about half of them in this burst; without the inbox they were lost).
    assert "that stopped process" in second.log() and "had acknowledged" in second.log()
