"""When a scheduled prompt runs: plain English and cron, in the creator's time zone.  Pure."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.schedules.when import WhenError, parse_when

SATURDAY = datetime(2026, 12, 5, 6, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("spoken, cron", [
    ("every weekday at 9:00", "0 9 * * 1-5"),
    ("Every Monday at 8:30", "30 8 * * 1"),
    ("every Monday and Thursday at 9am", "0 9 * * 1,4"),
    ("every day at 5:45pm", "45 17 * * *"),
    ("every weekend at 10", "0 10 * * 0,6"),
    ("every 2 hours", "0 */2 * * *"),
    ("every hour", "0 * * * *"),
    ("every 30 minutes", "*/30 * * * *"),
    ("0 9 * * 1-5", "0 9 * * 1-5"),
])
def test_plain_english_and_cron(spoken, cron):
    assert parse_when(spoken, "UTC").cron == cron


def test_times_are_the_creators_and_follow_daylight_saving():
    weekday_nine = parse_when("every weekday at 9:00", "Europe/Paris")
    assert weekday_nine.next_after(SATURDAY) == datetime(2026, 12, 7, 8, 0, tzinfo=timezone.utc), "Monday, UTC+1"
    summer = weekday_nine.next_after(datetime(2026, 7, 3, 12, 0, tzinfo=timezone.utc))
    assert summer == datetime(2026, 7, 6, 7, 0, tzinfo=timezone.utc), "Monday, UTC+2"
    assert parse_when("every day at 9:00", "Not/AZone").tz == "UTC", "a zone Slack gave but Python lacks: UTC"


@pytest.mark.parametrize("spoken", ["at teatime", "every funday at 9", "every day at 25:00", "every 7 minutes",
                                    "* * * * *", "*/2 * * * *", "61 * * * *", "0 9 30 2 *", "every 13pm"])
def test_what_is_not_understood_or_too_often_is_refused(spoken):
    with pytest.raises(WhenError):
        parse_when(spoken, "UTC")
