"""When a scheduled prompt runs: a five-field cron expression, or plain English the bot turns
into one ("every weekday at 9:00", "every Monday at 8:30", "every 2 hours"), in a time zone.
Pure; cronsim finds the next time (daylight-saving changes included)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

DAYS = {"monday": "1", "tuesday": "2", "wednesday": "3", "thursday": "4", "friday": "5", "saturday": "6", "sunday": "0"}
DAY_GROUPS = {"day": "*", "weekday": "1-5", "weekend": "0,6", "weekend day": "0,6"}
MIN_INTERVAL_MINUTES = 5  # more often than this is not what a scheduled prompt is for
ENGLISH_HELP = ('a five-field cron expression ("0 9 * * 1-5") or "every weekday at 9:00", "every Monday at 8:30", '
                '"every day at 17:45", "every Monday and Thursday at 9am", "every 2 hours", "every 30 minutes"')


class WhenError(ValueError):
    """Not a time the bot understands: the sentence says what it does understand."""


@dataclass(frozen=True)
class When:
    cron: str  # five fields, in ``tz``
    tz: str  # an IANA time zone name

    def next_after(self, moment: datetime) -> datetime:
        """The first time after ``moment`` (aware) at which this fires, in UTC."""
        zone = ZoneInfo(self.tz)
        local = moment.astimezone(zone).replace(second=0, microsecond=0)
        return next(iter(CronSim(self.cron, local))).astimezone(ZoneInfo("UTC"))


def parse_when(text: str, tz: str) -> When:
    """``text`` as a schedule in time zone ``tz``; raises WhenError."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        tz = "UTC"
    spoken = " ".join(text.lower().replace(",", " ").split())
    cron = _english(spoken) if spoken.startswith("every") else spoken
    fields = cron.split()
    if len(fields) != 5:
        raise WhenError(f"I don't understand “{text}” as a time: use {ENGLISH_HELP}.")
    try:
        times = CronSim(cron, datetime(2026, 1, 5, tzinfo=ZoneInfo(tz)))  # a Monday: every pattern shows in a week
        first = [next(times) for _ in range(13)]
    except CronSimError as exc:
        raise WhenError(f"“{text}” is not a cron expression I can use ({exc}): use {ENGLISH_HELP}.") from None
    except StopIteration:
        raise WhenError(f"“{text}” never comes (a date that does not exist?): use {ENGLISH_HELP}.") from None
    if min((b - a).total_seconds() for a, b in zip(first, first[1:])) < MIN_INTERVAL_MINUTES * 60:
        raise WhenError(f"That runs more often than every {MIN_INTERVAL_MINUTES} minutes; choose a longer interval.")
    return When(cron, tz)


INTERVAL = re.compile(r"^every (\d+ )?(minute|minutes|hour|hours)$")
AT = re.compile(r"^every (.+?) at (\d{1,2})(?::(\d{2}))? ?(am|pm)?$")


def _english(spoken: str) -> str:
    interval = INTERVAL.match(spoken)
    if interval:
        count = int(interval.group(1) or 1)
        if interval.group(2).startswith("minute"):
            if not 1 <= count <= 59 or 60 % count:
                raise WhenError("Every N minutes works for N dividing an hour (5, 10, 15, 20, 30).")
            return f"*/{count} * * * *" if count > 1 else "* * * * *"
        if not 1 <= count <= 23 or 24 % count:
            raise WhenError("Every N hours works for N dividing a day (1, 2, 3, 4, 6, 8, 12).")
        return f"0 */{count} * * *" if count > 1 else "0 * * * *"
    at = AT.match(spoken)
    if not at:
        raise WhenError(f"I don't understand “{spoken}”: use {ENGLISH_HELP}.")
    days, hour, minute, half = at.group(1), int(at.group(2)), int(at.group(3) or 0), at.group(4)
    if half:
        if not 1 <= hour <= 12:
            raise WhenError(f"{hour}{half} is not a time.")
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        raise WhenError(f"{at.group(2)}:{minute:02d} is not a time of day.")
    return f"{minute} {hour} * * {_days(days)}"


def _days(words: str) -> str:
    words = words.removesuffix("s") if words.rstrip("s") in DAY_GROUPS else words
    if words in DAY_GROUPS:
        return DAY_GROUPS[words]
    found = []
    for word in re.split(r" and | ", words):
        day = DAYS.get(word.rstrip("s")) or DAYS.get(word)
        if day is None:
            raise WhenError(f"I don't know the day “{word}”: name days (Monday…Sunday), “day”, “weekday” or “weekend”.")
        found.append(day)
    return ",".join(dict.fromkeys(found))


def describe(when: When) -> str:
    """How ``list`` shows it: the expression and its time zone."""
    return f"`{when.cron}` ({when.tz})"
