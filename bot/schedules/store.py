"""Scheduled prompts in Redis: every schedule, when each runs next, and a claim per
occurrence, so each runs once across any number of processes.  All in one slot
(``{schedules}``): a claim and the move to the next time are one script.

- ``all``: a hash, ``team:id`` → the schedule as JSON;
- ``due``: a sorted set, ``team:id`` → when it runs next (ms since the epoch, UTC);
- ``claim:team:id:ms``: taken by the process that runs that occurrence (kept a day).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

import redis.asyncio as aioredis

from bot.memory.conversation import Keys, as_text
from bot.schedules.when import When

CLAIM_TTL_SECONDS = 24 * 3600
MAX_PER_CHANNEL = 20

# KEYS: due, claim; ARGV: member, occurrence ms, next ms, claim ttl
# 1: this process runs the occurrence; 0: someone else did, or it moved.  Either way a due
# occurrence moves on to the next time (one already claimed, too: it never sticks).
CLAIM_SCRIPT = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
local won = redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[4])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
if won then return 1 end
return 0
"""


@dataclass(frozen=True)
class Schedule:
    id: str
    team: str
    channel: str
    creator: str
    text: str  # a prompt, or a prompt file's command and its arguments ("/summarize 50")
    cron: str
    tz: str
    spoken: str = ""  # how its creator said when ("every weekday at 9:00")
    enterprise: str = ""  # an org-wide installation's org (distributed mode)
    org_install: bool = False

    @property
    def member(self) -> str:
        return f"{self.team}:{self.id}"

    @property
    def when(self) -> When:
        return When(self.cron, self.tz)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: Any) -> "Schedule":
        data = json.loads(as_text(raw))
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(value: float) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)


class ScheduleStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.base = f"{keys.base}:{{schedules}}"
        self._claim = redis.register_script(CLAIM_SCRIPT)

    def _key(self, part: str) -> str:
        return f"{self.base}:{part}"

    async def add(self, schedule: Schedule, first: datetime) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key("all"), schedule.member, schedule.to_json())
            pipe.zadd(self._key("due"), {schedule.member: ms(first)})
            await pipe.execute()

    @staticmethod
    def new_id() -> str:
        return "s" + secrets.token_hex(3)

    async def all(self) -> list[Schedule]:
        return [Schedule.from_json(raw) for raw in (await self.redis.hgetall(self._key("all"))).values()]

    async def of_channel(self, team: str, channel: str) -> list[tuple[Schedule, datetime | None]]:
        """A channel's schedules with when each runs next, in that order."""
        found = [s for s in await self.all() if s.team == team and s.channel == channel]
        if not found:
            return []
        scores = await self.redis.zmscore(self._key("due"), [s.member for s in found])
        paired = [(s, from_ms(score) if score is not None else None) for s, score in zip(found, scores)]
        return sorted(paired, key=lambda pair: (pair[1] is None, pair[1] or datetime.max.replace(tzinfo=timezone.utc)))

    async def get(self, team: str, schedule_id: str) -> Schedule | None:
        raw = await self.redis.hget(self._key("all"), f"{team}:{schedule_id}")
        return None if raw is None else Schedule.from_json(raw)

    async def remove(self, schedules: Iterable[Schedule]) -> int:
        members = [s.member for s in schedules]
        if not members:
            return 0
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._key("all"), *members)
            pipe.zrem(self._key("due"), *members)
            removed, _ = await pipe.execute()
        return int(removed)

    async def forget(self, teams: Iterable[str], channel: str | None = None) -> int:
        """Remove every schedule of ``teams`` (of one channel of them, with ``channel``)."""
        wanted = set(teams)
        return await self.remove([s for s in await self.all()
                                  if s.team in wanted and (channel is None or s.channel == channel)])

    async def due(self, now: datetime, limit: int = 100) -> list[tuple[Schedule | None, str, int]]:
        """Occurrences due by ``now``: (schedule, member, occurrence ms); the schedule is None when it was removed."""
        found = await self.redis.zrangebyscore(self._key("due"), "-inf", ms(now), start=0, num=limit, withscores=True)
        if not found:
            return []
        members = [as_text(member) for member, _ in found]
        raws = await self.redis.hmget(self._key("all"), members)
        return [(Schedule.from_json(raw) if raw is not None else None, member, int(score))
                for member, raw, (_, score) in zip(members, raws, found)]

    async def claim(self, member: str, occurrence: int, following: datetime) -> bool:
        """Take occurrence ``occurrence`` of ``member`` and move it on to ``following``: True
        for exactly one caller, whatever the number of processes asking."""
        claim = self._key(f"claim:{member}:{occurrence}")
        return bool(await self._claim(keys=[self._key("due"), claim],
                                      args=[member, occurrence, ms(following), CLAIM_TTL_SECONDS]))

    async def drop_due(self, member: str) -> None:
        await self.redis.zrem(self._key("due"), member)
