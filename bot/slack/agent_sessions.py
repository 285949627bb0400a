"""Slack's agent sessions (``agents.sessions.setStatus``): while an answer is being written
its thread's session is "processing", which shows Slack's loading indicator and its own
Stop button (pressing it sends ``agent_session_stopped``); when the answer is done the
session goes back to "active".  A workspace or app where Slack does not offer sessions
answers with an error once; then the thinking status is used there instead, and sessions
are tried again after a while."""

from __future__ import annotations

import logging
import time
from typing import Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

METHOD = "agents.sessions.setStatus"
PROCESSING, ACTIVE = "processing", "active"
RETRY_SECONDS = 3600.0  # a workspace without sessions is asked again after this long
STOP_TARGET = "thread:"  # a Stop on a session names its thread (no message may exist yet)


def session_stop_target(thread_ts: str) -> str:
    """How a session's Stop names an answer that has no message yet: by its thread."""
    return STOP_TARGET + thread_ts


class AgentSessions:
    def __init__(self, client: AsyncWebClient, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.clock = clock
        self._unavailable: dict[tuple[str, bool], float] = {}  # (team, in a DM) -> when to try again

    def offered(self, team: str, channel: str) -> bool:
        until = self._unavailable.get(_where(team, channel))
        return until is None or self.clock() >= until

    async def begin(self, team: str, channel: str, thread_ts: str, user: str) -> bool:
        """Mark the thread's session as processing; False where Slack does not offer sessions."""
        if not self.offered(team, channel):
            return False
        return await self._set(team, channel, thread_ts, PROCESSING, initiator_user_id=user or None)

    async def end(self, team: str, channel: str, thread_ts: str) -> None:
        await self._set(team, channel, thread_ts, ACTIVE)

    async def _set(self, team: str, channel: str, thread_ts: str, status: str, **extra: str | None) -> bool:
        try:
            await self.client.agents_sessions_setStatus(channel_id=channel, thread_ts=thread_ts, status=status, **extra)
            return True
        except SlackApiError as exc:
            error = exc.response.get("error")
            if exc.response.status_code != 429:  # DMs and channel threads apart: Slack may offer sessions in one only
                self._unavailable[_where(team, channel)] = self.clock() + RETRY_SECONDS
            log.info("%s not available here (%s): using the thinking status", METHOD, error)
        except Exception as exc:  # a connection problem: the thinking status will do for this answer
            log.info("%s failed: %s", METHOD, type(exc).__name__)
        return False


def _where(team: str, channel: str) -> tuple[str, bool]:
    return team, channel.startswith("D")
