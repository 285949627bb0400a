"""A channel deleted: everything kept for it goes (conversations, settings, persona) and its
scheduled prompts stop."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.memory.store import ConversationStore
from bot.schedules.store import ScheduleStore

log = logging.getLogger(__name__)

SUBSCRIBED_EVENTS = ("channel_deleted", "group_deleted")


def register(app: AsyncApp, *, store: ConversationStore, schedules: ScheduleStore | None) -> None:
    async def deleted(body: dict[str, Any], event: dict[str, Any]) -> None:
        team, channel = str(body.get("team_id") or ""), str(event.get("channel") or "")
        if not team or not channel:
            return
        forgotten = await store.forget_channel(team, channel)
        stopped = await schedules.forget([team], channel) if schedules is not None else 0
        log.info("%s was deleted: %d conversations forgotten, %d scheduled prompts removed", channel, forgotten, stopped)

    for event_type in SUBSCRIBED_EVENTS:
        app.event(event_type)(deleted)
