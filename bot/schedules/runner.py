"""Running scheduled prompts: every few seconds each process looks for occurrences that are
due, claims each (one process wins it), skips one more than SCHEDULE_GRACE_MINUTES late, and
runs it: a short message in the channel saying what runs, and the answer in its thread,
through the same stages as a mention (the creator's flood limit, the channel's quotas and
settings, the audience rule for what tools read), so people can reply there and the bot follows."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from datetime import datetime, timedelta, timezone
from typing import Awaitable, Callable

from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import CommandRequest, CommandRunner
from bot.delivery.dispatcher import Dispatcher
from bot.observability.metrics import Metrics
from bot.schedules.store import Schedule, ScheduleStore, from_ms
from bot.slack.directory import NameDirectory
from bot.slack.events import IncomingMessage
from bot.slack.rate_budget import RateBudget
from bot.slack.reply import SlackReply
from bot.slack.text import defuse_broadcasts
from bot.tasks import BackgroundTasks
from bot.workspaces import context as workspace_context
from bot.workspaces.context import Workspace

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0
HEADER_CHARS = 300
GONE = frozenset({"channel_not_found", "is_archived"})  # the channel is no more: its schedules go too


class Scheduler:
    """The loop: due occurrences claimed, skipped when late, run in the background."""

    def __init__(self, store: ScheduleStore, run: Callable[[Schedule, datetime], Awaitable[None]], tasks: BackgroundTasks,
                 *, grace: timedelta, metrics: Metrics | None = None, interval: float = POLL_SECONDS,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.store, self.run, self.tasks = store, run, tasks
        self.grace, self.metrics, self.interval, self.now = grace, metrics, interval, now
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _forever(self) -> None:
        while True:
            try:
                await self.once()
            except (RedisError, OSError) as exc:
                log.warning("schedules not looked at: %s", type(exc).__name__)
            except Exception:
                log.exception("looking for due schedules failed")
            await asyncio.sleep(self.interval)

    async def once(self) -> int:
        """Claim and start what is due now; returns how many occurrences this process took."""
        now = self.now()
        taken = 0
        for schedule, member, occurrence in await self.store.due(now):
            if schedule is None:  # removed while it waited
                await self.store.drop_due(member)
                continue
            at = from_ms(occurrence)
            if not await self.store.claim(member, occurrence, schedule.when.next_after(max(now, at))):
                continue  # another process has it
            taken += 1
            if now - at > self.grace:
                log.warning("schedule %s skipped its run of %s: %.0f minutes late (SCHEDULE_GRACE_MINUTES)",
                            schedule.id, at.isoformat(timespec="minutes"), (now - at).total_seconds() / 60)
                self._count("skipped_late")
                continue
            self.tasks.spawn(self._run(schedule, at))
        return taken

    async def _run(self, schedule: Schedule, at: datetime) -> None:
        try:
            await self.run(schedule, at)
            self._count("run")
        except Exception:
            log.exception("schedule %s failed to run", schedule.id)
            self._count("failed")

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.schedule_runs.labels(outcome).inc()


class Occurrences:
    """One occurrence: the message that opens its thread, then the prompt (through the
    dispatcher, like a mention) or the prompt file's command (answered in that thread)."""

    def __init__(self, *, client: AsyncWebClient, store: ScheduleStore, directory: NameDirectory, dispatcher: Dispatcher,
                 commands: CommandRunner, interval: float, budget: RateBudget | None = None,
                 workspace_for: Callable[[IncomingMessage], Awaitable[Workspace | None]] | None = None) -> None:
        self.client, self.store, self.directory, self.dispatcher = client, store, directory, dispatcher
        self.commands, self.interval, self.budget, self.workspace_for = commands, interval, budget, workspace_for

    async def __call__(self, schedule: Schedule, at: datetime) -> None:
        job = self._job(schedule, "")
        if self.workspace_for is None:
            await self._open_and_run(schedule, at)
            return
        workspace = await self.workspace_for(job)
        if workspace is None:
            log.warning("schedule %s not run: its workspace has no installation", schedule.id)
            return
        with workspace_context.working_for(workspace):
            await self._open_and_run(schedule, at)

    async def _open_and_run(self, schedule: Schedule, at: datetime) -> None:
        name = await self.directory.user_name(schedule.team, schedule.creator)
        text = defuse_broadcasts(schedule.text)
        text = text if len(text) <= HEADER_CHARS else text[:HEADER_CHARS - 1] + "…"
        try:
            opened = await self.client.chat_postMessage(
                channel=schedule.channel, text=f":alarm_clock: Scheduled by {name} ({schedule.id}): {text}",
                unfurl_links=False, unfurl_media=False)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            log.warning("schedule %s could not post in %s: %s", schedule.id, schedule.channel, error)
            if error in GONE:
                await self.store.remove([schedule])
                log.info("schedule %s removed: its channel is gone", schedule.id)
            raise
        ts = str(opened["ts"])
        log.info("schedule %s runs its %s occurrence in %s", schedule.id, at.isoformat(timespec="minutes"), schedule.channel)
        command, _, arguments = schedule.text.strip().partition(" ")
        if command.startswith("/") and command in self.commands.catalog.commands:
            await self._command(schedule, ts, command, arguments, at)
        else:
            self.dispatcher.submit(self._job(schedule, ts))

    def _job(self, schedule: Schedule, ts: str) -> IncomingMessage:
        direct = schedule.channel.startswith("D")
        return IncomingMessage(schedule.team, schedule.channel, "im" if direct else "channel", schedule.creator,
                               schedule.text, ts, None, True, "schedule", enterprise=schedule.enterprise,
                               org_install=schedule.org_install, dm_threads=direct)

    async def _command(self, schedule: Schedule, ts: str, command: str, arguments: str, at: datetime) -> None:
        request = CommandRequest(schedule.team, schedule.channel, schedule.creator, command, arguments,
                                 direct=schedule.channel.startswith("D"), trigger=f"schedule-{schedule.id}-{at:%Y%m%d%H%M}")
        writer = SlackReply(self.client, schedule.channel, ts, interval=self.interval, budget=self.budget, team=schedule.team)
        prepared = self.commands.prepare(request)
        if isinstance(prepared, str):
            await writer.fail(prepared)
            return
        await self.commands.run(dataclasses.replace(prepared, in_channel=True), writer)
