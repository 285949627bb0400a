"""Forgetting a workspace that removed the app (``app_uninstalled``, ``tokens_revoked``):
its installation and everything kept for it: conversations and their work, ratings,
personas, usage, assistant thread contexts, names, budgets."""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from bot.schedules.store import ScheduleStore
from bot.memory.conversation import Keys, as_text
from bot.workspaces.installations import RedisInstallationStore
from bot.workspaces.keys import org_teams_key

log = logging.getLogger(__name__)

SCAN_COUNT = 1000
DELETE_CHUNK = 500


async def workspace_keys(redis: Redis, keys: Keys, team_id: str) -> list[str]:
    """Every key kept for ``team_id`` (found with SCAN on every node)."""
    found: set[str] = set()
    patterns = [*keys.workspace_patterns(team_id), f"{keys.base}:rate:{{{team_id}}}:*"]
    for pattern in patterns:
        async for key in redis.scan_iter(match=pattern, count=SCAN_COUNT):
            found.add(as_text(key))
    # Assistant thread contexts are indexed by their (DM) channel alone: follow the workspace's
    # channels, and the DMs people opened (agent view) even where they never wrote.
    prefix, dm_prefix = f"{keys.base}:channel-conversations:{team_id}:", keys.user_dm(team_id, "")
    async with redis.pipeline(transaction=False) as pipe:  # the keys live in several slots of a cluster
        for key in (dm_keys := [k for k in found if k.startswith(dm_prefix)]):
            pipe.get(key)
        dms = {as_text(dm) for dm in await pipe.execute() if dm} if dm_keys else set()
    for channel in {key.removeprefix(prefix) for key in found if key.startswith(prefix)} | dms:
        index = keys.channel_records("", channel)
        found.add(index)
        found.update(as_text(member) for member in await redis.smembers(index))
    return sorted(found)


async def forget_workspace(
    redis: Redis, keys: Keys, installations: RedisInstallationStore, *, team_id: str, enterprise_id: str = "",
    org_wide: bool = False,
) -> int:
    """Delete the installation and every key of the workspace(s) it covered; returns how many keys went."""
    teams = {team_id} if team_id else set()
    if org_wide and enterprise_id:
        teams.update(as_text(t) for t in await redis.smembers(org_teams_key(keys, enterprise_id)))
    doomed: list[str] = []
    for team in sorted(teams):
        doomed += await workspace_keys(redis, keys, team)
    if org_wide and enterprise_id:
        doomed.append(org_teams_key(keys, enterprise_id))
    doomed_schedules = await ScheduleStore(redis, keys).forget(teams)
    await installations.async_delete_installation(enterprise_id=enterprise_id or None,
                                                  team_id=None if org_wide else team_id or None)
    for start in range(0, len(doomed), DELETE_CHUNK):
        async with redis.pipeline(transaction=False) as pipe:
            for key in doomed[start:start + DELETE_CHUNK]:  # one key a command: they live in many cluster slots
                pipe.execute_command("UNLINK", key)  # (the cluster pipeline's own unlink is a coroutine)
            await pipe.execute()
    log.info("forgot workspace %s: installation, %d keys and %d scheduled prompts deleted", team_id or enterprise_id,
             len(doomed), doomed_schedules)
    return len(doomed)
