"""Scheduled prompts end to end: added in the creator's time zone, each occurrence run once
(a message in the channel, the answer in its thread, followed like any thread), skipped when
too late, removed with the schedule, the channel or a reset."""

from __future__ import annotations

import re
import time

from .fakes.slack_api import TEAM_ID
from .harness import message, settled
from .test_e2e_management import manage


def schedule_store(app):
    return app.runtime.services.schedules


def make_due(app, schedule_id: str, minutes_ago: float = 0.0, at_ms: int | None = None) -> int:
    """Time passes: the schedule's next run is now (or ``minutes_ago``, or ``at_ms``), then the
    scheduler looks.  Returns the occurrence (ms)."""
    store = schedule_store(app)
    when = at_ms if at_ms is not None else int((time.time() - minutes_ago * 60) * 1000)
    app.call(lambda: store.redis.zadd(store._key("due"), {f"{TEAM_ID}:{schedule_id}": when}))
    app.call(lambda: app.runtime.scheduler.once())
    return when


def added_id(reply: str) -> str:
    found = re.match(r"Scheduled `(s[0-9a-f]+)`", reply)
    assert found, reply
    return found.group(1)


def test_a_schedule_runs_once_per_occurrence_in_its_own_thread_and_the_thread_is_followed(app, sender, slack, model):
    slack.creators["C100"] = "U1"
    slack.timezones["U1"] = "Europe/Paris"
    assert manage(sender, slack, 'schedule add "every weekday at 9:00" what is on today?', user="U2") == \
        "Only the channel's creator or a bot admin can add or remove its scheduled prompts."
    assert manage(sender, slack, 'schedule add "at teatime" hi').startswith("I don't understand “at teatime”")
    reply = manage(sender, slack, 'schedule add "every weekday at 9:00" what is on today?')
    assert "(`0 9 * * 1-5`, Europe/Paris); first on " in reply and "at 09:00" in reply, reply
    schedule_id = added_id(reply)
    listed = manage(sender, slack, "schedule list", user="U3")
    assert f"• `{schedule_id}` every weekday at 9:00 (`0 9 * * 1-5`, Europe/Paris; next " in listed

    occurrence = make_due(app, schedule_id)
    slack.wait_for_answers(2)
    opening, answer = slack.posts("C100")
    assert opening.thread_ts is None and opening.text == f":alarm_clock: Scheduled by alice ({schedule_id}): what is on today?"
    assert answer.thread_ts == opening.ts and answer.text == "Answer to: alice: what is on today?"
    make_due(app, schedule_id, at_ms=occurrence)  # the same occurrence seen due again (a process behind): claimed already
    settled(app)
    assert len(model.requests) == 1

    sender.send_event(message("and tomorrow?", user="U2", thread_ts=opening.ts))  # no mention: the thread is followed
    slack.wait_for_answers(3)
    assert model.requests[1].last_user_text == '<from name="bob" id="U2"/>\nand tomorrow?'
    store = schedule_store(app)
    [(_, upcoming)] = app.call(lambda: store.of_channel(TEAM_ID, "C100"))
    assert upcoming.timestamp() > time.time(), "moved on to its next time"


def test_an_occurrence_too_late_is_skipped_said_and_counted(app, sender, slack, model, caplog):
    caplog.set_level("INFO")
    schedule_id = added_id(manage(sender, slack, 'schedule add "every day at 7:30" good morning', channel="D100"))
    make_due(app, schedule_id, minutes_ago=11)  # the process was down: past SCHEDULE_GRACE_MINUTES (10)
    settled(app)
    assert slack.posts() == [] and model.requests == []
    assert f"schedule {schedule_id} skipped its run" in caplog.text
    assert 'assistant_schedule_runs_total{outcome="skipped_late"} 1.0' in \
        app.runtime.core.metrics.exposition().decode()
    make_due(app, schedule_id, minutes_ago=9)  # within the grace: run (in a DM too, in a thread of its own)
    slack.wait_for_answers(2)
    opening, answer = slack.posts("D100")
    assert answer.thread_ts == opening.ts


def test_a_scheduled_command_answers_in_the_thread_for_everyone_there(app, sender, slack, model):
    slack.history["C100"] = [{"type": "message", "user": "U2", "text": "we ship on Friday", "ts": "1600000000.000100"}]
    schedule_id = added_id(manage_as_admin(sender, slack, 'schedule add "0 17 * * 5" /summarize 20'))
    assert manage_as_admin(sender, slack, 'schedule add "every day at 9:00" /assistant reset').startswith(
        "`/assistant` itself cannot be scheduled")
    assert manage_as_admin(sender, slack, 'schedule add "every day at 9:00" /dance').startswith("I don't know `/dance`")
    make_due(app, schedule_id)
    slack.wait_for(lambda s: len(s.posts("C100")) == 2 and s.posts("C100")[1].text.startswith("Answer to"))
    opening, summary = slack.posts("C100")
    assert summary.thread_ts == opening.ts
    assert "we ship on Friday" in model.requests[0].last_user_text


def manage_as_admin(sender, slack, text: str) -> str:
    slack.creators["C100"] = "U1"  # alice created the channel
    return manage(sender, slack, text)


def test_removing_a_schedule_the_channel_or_everything_stops_it(app, sender, slack, model):
    slack.creators.update({"C100": "U1", "C200": "U1"})
    first = added_id(manage(sender, slack, 'schedule add "every Monday at 8:30" plan the week'))
    second = added_id(manage(sender, slack, 'schedule add "every 2 hours" check the queue'))
    other = added_id(manage(sender, slack, 'schedule add "every 2 hours" elsewhere', channel="C200"))
    assert manage(sender, slack, "schedule remove s000000") == \
        "There is no scheduled prompt `s000000` here (`/assistant schedule list` shows them)."
    assert manage(sender, slack, f"schedule remove {other}").startswith("There is no scheduled prompt"), "not this channel's"
    assert manage(sender, slack, f"schedule remove {first}") == f"Removed `{first}`: it will not run again."
    make_due(app, first)
    settled(app)
    assert slack.posts() == [], "a removed schedule never runs"
    assert manage(sender, slack, "reset").endswith("I removed its 1 scheduled prompt too.")
    assert manage(sender, slack, "schedule list").startswith("No scheduled prompts here.")
    sender.send_event({"type": "channel_deleted", "channel": "C200", "event_ts": "1.1"})
    deadline = time.monotonic() + 10
    while app.call(lambda: schedule_store(app).all()):  # the event is handled after its 200
        assert time.monotonic() < deadline, "the deleted channel's schedule is still there"
        time.sleep(0.02)
    assert second and model.requests == []
