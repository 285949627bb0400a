"""Quotas and allowlists: whether a message may reach the model, and the one plain sentence
when it may not.  Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from bot.usage.ledger import Spent


@dataclass(frozen=True)
class QuotaLimits:
    user_daily_tokens: int = 0  # 0: no limit
    channel_daily_tokens: int = 0
    team_monthly_cost_usd: float = 0.0
    admins: frozenset[str] = frozenset()  # exempt from the user limit

    @property
    def any(self) -> bool:
        return bool(self.user_daily_tokens or self.channel_daily_tokens or self.team_monthly_cost_usd)


@dataclass(frozen=True)
class Refusal:
    limit: str  # the setting that refused
    sentence: str


def usd(amount: float) -> str:
    """Dollars as people write them: cents from a dollar up, the significant digits below."""
    return f"${amount:,.2f}" if amount >= 1 or amount == 0 else f"${amount:.2g}"


def next_day(now: datetime) -> datetime:
    return datetime(now.year, now.month, now.day, tzinfo=timezone.utc) + timedelta(days=1)


def next_month(now: datetime) -> datetime:
    return datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=timezone.utc)


def _in(now: datetime, when: datetime) -> str:
    minutes = max(1, int((when - now).total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def refusal(spent: Spent, limits: QuotaLimits, user: str, now: datetime) -> Refusal | None:
    """The first limit ``spent`` has reached, with the sentence the user reads; None: under every limit."""
    if limits.user_daily_tokens and user not in limits.admins and spent.user_day_tokens >= limits.user_daily_tokens:
        return Refusal("USER_DAILY_TOKEN_LIMIT",
                       f"You've used your {limits.user_daily_tokens:,} tokens for today, so I can't answer this one. "
                       f"Your allowance resets at midnight UTC (in {_in(now, next_day(now))}).")
    if limits.channel_daily_tokens and spent.channel_day_tokens >= limits.channel_daily_tokens:
        return Refusal("CHANNEL_DAILY_TOKEN_LIMIT",
                       f"This channel has used its {limits.channel_daily_tokens:,} tokens for today, so I can't answer "
                       f"here until midnight UTC (in {_in(now, next_day(now))}).")
    if limits.team_monthly_cost_usd and spent.team_month_cost_usd >= limits.team_monthly_cost_usd:
        reset = next_month(now)
        return Refusal("TEAM_MONTHLY_COST_LIMIT_USD",
                       f"This workspace has reached its {usd(limits.team_monthly_cost_usd)} budget for the month, so I "
                       f"can't answer until {reset:%-d %B} (UTC).")
    return None


def remaining_lines(spent: Spent, limits: QuotaLimits, user: str) -> list[str]:
    """What is left of each limit, for /assistant usage."""
    lines = []
    if limits.user_daily_tokens:
        if user in limits.admins:
            lines.append("You: no daily limit (admin)")
        else:
            left = max(0, limits.user_daily_tokens - spent.user_day_tokens)
            lines.append(f"You: {left:,} of {limits.user_daily_tokens:,} tokens left today")
    if limits.channel_daily_tokens:
        left = max(0, limits.channel_daily_tokens - spent.channel_day_tokens)
        lines.append(f"This channel: {left:,} of {limits.channel_daily_tokens:,} tokens left today")
    if limits.team_monthly_cost_usd:
        left = max(0.0, limits.team_monthly_cost_usd - spent.team_month_cost_usd)
        lines.append(f"This workspace: {usd(left)} of {usd(limits.team_monthly_cost_usd)} left this month")
    return lines


@dataclass(frozen=True)
class Access:
    """ALLOWED_CHANNEL_IDS and ALLOWED_USER_IDS (empty: everyone), BLOCKED_USER_IDS."""

    allowed_channels: frozenset[str] = frozenset()
    allowed_users: frozenset[str] = frozenset()
    blocked_users: frozenset[str] = frozenset()

    def refusal(self, user: str, channel: str, direct: bool) -> str | None:
        if user in self.blocked_users or (self.allowed_users and user not in self.allowed_users):
            return "Sorry, I'm not set up to answer you. Ask the people who run me if you think this is a mistake."
        if self.allowed_channels and not direct and channel not in self.allowed_channels:
            return "Sorry, I'm not set up to answer in this channel. Ask the people who run me to add it."
        return None
