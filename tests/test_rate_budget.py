"""The shared per-workspace budget, on a real Redis and on the embedded one."""

from __future__ import annotations

import pytest

from bot.slack.rate_budget import RateBudget
from bot.memory.connection import open_redis


@pytest.fixture(params=["redis", "embedded", "cluster"])
async def budget(request, redis_url, key_prefix):
    url = request.getfixturevalue("redis_cluster_url") if request.param == "cluster" else redis_url
    client = await open_redis(None if request.param == "embedded" else url)
    yield RateBudget(client, key_prefix=key_prefix, per_minute={"chat.update": 10})
    await client.aclose()


async def test_no_minute_holds_more_than_the_limit(budget):
    taken = [await budget.take("T1", "chat.update", max_wait=0) for _ in range(12)]
    assert taken == [True] * 10 + [False] * 2
    assert await budget.take("T2", "chat.update", max_wait=0), "each workspace has its own budget"


async def test_spare_updates_leave_room_for_every_answer_in_flight(budget):
    answers = [await budget.begin_answer("T1") for _ in range(3)]
    # limit 10, headroom 40% (4 calls), 2 other answers in flight: spares stop at 10 - 4 - 2 = 4 calls
    spares = [await budget.try_take_spare("T1", "chat.update") for _ in range(6)]
    assert spares == [True] * 4 + [False] * 2
    finals = [await budget.take("T1", "chat.update", max_wait=0) for _ in answers]
    assert finals == [True, True, True], "every answer in flight can still finish"
    for answer in answers:
        await budget.end_answer("T1", answer)


async def test_an_answer_shows_a_message_only_while_its_final_update_is_kept(budget):
    answers = [await budget.begin_answer("T1") for _ in range(12)]
    held = [await budget.hold_final_update("T1", answer) for answer in answers]
    assert held == [True] * 10 + [False] * 2, "the window (10) takes the final update of every message shown"
    assert await budget.hold_final_update("T1", answers[0]), "asking again is not counted twice"
    assert await budget.take("T1", "chat.update", max_wait=0, ending=answers[0]), "a final update frees its hold"
    assert not await budget.hold_final_update("T1", answers[10]), "its call still counts in this minute"
    await budget.end_answer("T1", answers[1])  # ended without a final update (failed, stopped): its hold goes too
    assert await budget.hold_final_update("T1", answers[10])
    assert await budget.hold_final_update("T2", await budget.begin_answer("T2")), "each workspace has its own"
    await budget.block("T1", "chat.update", 30)
    assert not await budget.hold_final_update("T1", answers[11]), "nothing is shown while Slack says wait"


async def test_a_429_blocks_the_method_for_the_workspace(budget):
    await budget.block("T1", "chat.update", 30)
    assert not await budget.try_take_spare("T1", "chat.update")
    assert not await budget.take("T1", "chat.update", max_wait=0)
    assert await budget.take("T1", "chat.delete", max_wait=0), "other methods are not blocked"


async def test_a_stale_message_is_removed_later_only_while_the_answer_holds_its_lease(slack):
    """The background delete of a placeholder waits for the budget; by then a process that took
    the job over may show its own answer in that message: without the lease, it is left alone."""
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.slack.reply import SlackReply

    from .fakes.slack_api import BOT_TOKEN

    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.base_url)
    holds = {"lease": False}
    reply = SlackReply(client, "C100", None, interval=1.0, may_write=lambda: holds["lease"])
    await reply._delete_later("1700000000.000001")
    assert slack.calls_to("chat.delete") == []
    holds["lease"] = True
    await reply._delete_later("1700000000.000001")
    assert [c.params["ts"] for c in slack.calls_to("chat.delete")] == ["1700000000.000001"]
