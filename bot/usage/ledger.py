"""The cost and usage ledger: tokens (input, cached input, output), cost and calls per user,
channel, workspace, model and prompt, per UTC day and month, in Redis.  One answer's
entries are added to the batch of its commit (no round trip of their own); the quota read
rides in the batch before the model call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

from redis.asyncio import Redis

from bot.memory.batch import Batch
from bot.memory.conversation import Keys
from bot.pricing import PriceTable

DAY_TTL_SECONDS = 92 * 24 * 3600  # a quarter of daily figures
MONTH_TTL_SECONDS = 400 * 24 * 3600  # more than a year of monthly ones
MICRO = 1_000_000  # cost is kept in micro-dollars (whole numbers add up exactly)
COUNTERS = ("in", "cached", "out", "cost", "calls", "unpriced")


def usage_key(keys: Keys, team: str, period: str) -> str:
    """Token usage of one day (YYYY-MM-DD) or month (YYYY-MM); a workspace's periods share a slot."""
    return f"{keys.base}:usage:{{{team}}}:{period}"


@dataclass(frozen=True)
class CallUsage:
    """One model call (or one answer's calls) as the API reported them."""

    model: str
    prompt: str
    input_tokens: int
    cached_tokens: int
    output_tokens: int


@dataclass
class Totals:
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    unpriced_calls: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def cached_share(self) -> float:
        return self.cached_tokens / self.input_tokens if self.input_tokens else 0.0

    def add(self, other: "Totals") -> None:
        self.input_tokens += other.input_tokens
        self.cached_tokens += other.cached_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd += other.cost_usd
        self.calls += other.calls
        self.unpriced_calls += other.unpriced_calls


@dataclass(frozen=True)
class Spent:
    """What the quotas compare: the user's and the channel's tokens today, the workspace's cost this month."""

    user_day_tokens: int = 0
    channel_day_tokens: int = 0
    team_month_cost_usd: float = 0.0


def day(when: datetime) -> str:
    return when.strftime("%Y-%m-%d")


def month(when: datetime) -> str:
    return when.strftime("%Y-%m")


def prefix(dimension: str, value: str) -> str:
    return "team:" if dimension == "team" else f"{dimension}:{value}:"


# One answer's figures: every counter added to the day's and the month's hash, each hash's
# expiry set.  KEYS: day, month; ARGV: day ttl, month ttl, then field, amount pairs.  One
# command instead of some fifty keeps the commit's round trip as short as it was.
RECORD_SCRIPT = """
for k = 1, 2 do
  for i = 3, #ARGV, 2 do
    redis.call('HINCRBY', KEYS[k], ARGV[i], ARGV[i + 1])
  end
  redis.call('EXPIRE', KEYS[k], ARGV[k])
end
return 1
"""


class Ledger:
    def __init__(self, redis: Redis, keys: Keys, prices: PriceTable) -> None:
        self.keys = keys
        self.prices = prices
        self._record = redis.register_script(RECORD_SCRIPT)

    def cost(self, usage: CallUsage) -> float | None:
        return self.prices.cost(usage.model, input_tokens=usage.input_tokens, cached_tokens=usage.cached_tokens,
                                output_tokens=usage.output_tokens)

    def record_in(self, batch: Batch, team: str, channel: str, user: str, usage: CallUsage, when: datetime) -> float | None:
        """Add one answer's usage to ``batch``; returns its cost (None: the model is not priced)."""
        cost = self.cost(usage)
        values = {"in": usage.input_tokens, "cached": usage.cached_tokens, "out": usage.output_tokens,
                  "cost": round((cost or 0.0) * MICRO), "calls": 1, "unpriced": 1 if cost is None else 0}
        owners = {"user": user, "channel": channel, "model": usage.model, "prompt": usage.prompt, "team": ""}
        fields: list[str | int] = []
        for dimension, owner in owners.items():
            if dimension != "team" and not owner:
                continue
            for counter, amount in values.items():
                if amount:
                    fields += [prefix(dimension, owner) + counter, amount]
        batch.script(self._record, [usage_key(self.keys, team, day(when)), usage_key(self.keys, team, month(when))],
                     [DAY_TTL_SECONDS, MONTH_TTL_SECONDS, *fields])
        return cost

    def spent_in(self, batch: Batch, team: str, channel: str, user: str, when: datetime) -> Callable[[], Spent]:
        """Add to ``batch`` the reads the quotas need; returns how to read them once it has run."""
        today = batch.command("HMGET", usage_key(self.keys, team, day(when)), f"user:{user}:in", f"user:{user}:out",
                              f"channel:{channel}:in", f"channel:{channel}:out")
        this_month = batch.command("HMGET", usage_key(self.keys, team, month(when)), "team:cost")

        def read() -> Spent:
            numbers = [int(v or 0) for v in today.get()]
            return Spent(numbers[0] + numbers[1], numbers[2] + numbers[3], int((this_month.get() or [0])[0] or 0) / MICRO)

        return read

    async def spent(self, redis: Redis, team: str, channel: str, user: str, when: datetime) -> Spent:
        batch = Batch()
        read = self.spent_in(batch, team, channel, user, when)
        await batch.run(redis)
        return read()

    async def teams(self, redis: Redis) -> list[str]:
        """Every workspace with usage kept (from the month keys)."""
        found: set[str] = set()
        pattern = usage_key(self.keys, "*", "????-??")
        async for key in redis.scan_iter(match=pattern, count=500):
            found.add(_text(key).rsplit(":", 2)[-2].strip("{}"))
        return sorted(found)

    async def adopt_old_keys(self, redis: Redis) -> int:
        """Rename usage kept under the names used before workspaces had their own slot
        (``usage:T:period`` → ``usage:{T}:period``); returns how many were renamed.  Done once:
        a marker key then spares every later start-up the scan of the whole keyspace."""
        done = self.keys.migration("usage-slots")
        if await redis.exists(done):
            return 0
        renamed = 0
        async for key in redis.scan_iter(match=f"{self.keys.base}:usage:*", count=500):
            name = _text(key)
            team, period = name.removeprefix(f"{self.keys.base}:usage:").rsplit(":", 1)
            if not team.startswith("{"):
                await redis.rename(name, usage_key(self.keys, team, period))
                renamed += 1
        await redis.set(done, "1")
        return renamed

    async def totals(self, redis: Redis, team: str, periods: Iterable[str]) -> dict[str, dict[str, Totals]]:
        """Every figure of ``periods`` (days or months) for one workspace, added up:
        {dimension: {owner: Totals}}, the workspace's own under {"team": {"": …}}."""
        found: dict[str, dict[str, Totals]] = {}
        async with redis.pipeline(transaction=False) as pipe:
            for period in periods:
                pipe.hgetall(usage_key(self.keys, team, period))
            hashes = await pipe.execute()
        for raw in hashes:
            for name, value in raw.items():
                add_field(found, _text(name), int(_text(value)))
        return found


async def usage_report(ledger: "Ledger", redis: Redis, team: str, channel: str, user: str,
                       when: datetime) -> dict[str, Totals]:
    """A user's and a channel's usage today and this month: user_day, user_month, channel_day, channel_month."""
    fields = [prefix(dimension, owner) + counter for dimension, owner in (("user", user), ("channel", channel))
              for counter in COUNTERS]
    async with redis.pipeline(transaction=False) as pipe:
        for period in (day(when), month(when)):
            pipe.hmget(usage_key(ledger.keys, team, period), fields)
        replies = await pipe.execute()
    report: dict[str, Totals] = {}
    for label, values in zip(("day", "month"), replies):
        found: dict[str, dict[str, Totals]] = {}
        for name, value in zip(fields, values):
            if value is not None:
                add_field(found, name, int(_text(value)))
        report[f"user_{label}"] = found.get("user", {}).get(user, Totals())
        report[f"channel_{label}"] = found.get("channel", {}).get(channel, Totals())
    return report


def add_field(found: dict[str, dict[str, Totals]], name: str, value: int) -> None:
    head, _, counter = name.rpartition(":")
    dimension, _, owner = head.partition(":")
    if counter not in COUNTERS or not dimension:
        return
    totals = found.setdefault(dimension, {}).setdefault(owner, Totals())
    if counter == "in":
        totals.input_tokens += value
    elif counter == "cached":
        totals.cached_tokens += value
    elif counter == "out":
        totals.output_tokens += value
    elif counter == "cost":
        totals.cost_usd += value / MICRO
    elif counter == "calls":
        totals.calls += value
    else:
        totals.unpriced_calls += value


def days_between(first: datetime, last: datetime) -> list[str]:
    count = (last.date() - first.date()).days
    return [day(first + timedelta(days=n)) for n in range(max(count, 0) + 1)]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
