"""``/assistant schedule add "<when>" <prompt or /command …> | list | remove <id>``: a
channel's scheduled prompts, added and removed by its creator or an admin (anyone in their
own DM with the bot), listed for anyone there."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Awaitable, Callable
from zoneinfo import ZoneInfo

from bot.operations.audit import AuditLog
from bot.commands import CommandRequest
from bot.prompts import PromptCatalog
from bot.schedules.store import MAX_PER_CHANNEL, Schedule, ScheduleStore
from bot.schedules.when import ENGLISH_HELP, WhenError, parse_when
from bot.workspaces import context as workspace_context

log = logging.getLogger(__name__)

QUOTED = re.compile(r'^\s*["“”]([^"“”]+)["“”]\s*(.*)$', re.S)
NOT_ALLOWED_TO_SCHEDULE = "Only the channel's creator or a bot admin can add or remove its scheduled prompts."


def when_text(moment: datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%A %-d %B at %H:%M")


class ScheduleCommands:
    def __init__(self, *, command: str, store: ScheduleStore, catalog: PromptCatalog,
                 tz_of: Callable[[str, str], Awaitable[str]], now: Callable[[], datetime],
                 audit: AuditLog | None = None) -> None:
        self.command, self.store, self.catalog, self.tz_of, self.now = command, store, catalog, tz_of, now
        self.audit = audit

    def usage(self) -> str:
        c = self.command
        return (f'Usage: `{c} schedule add "<when>" <prompt>` (or a command: `{c} schedule add "every Monday at 9:00" '
                f'/summarize 100`), `{c} schedule list`, `{c} schedule remove <id>`. When: {ENGLISH_HELP}, '
                "in your Slack time zone.")

    async def handle(self, request: CommandRequest, text: str, may_change: Callable[[], Awaitable[bool]]) -> str:
        action, _, rest = text.strip().partition(" ")
        action = action.lower() or "list"
        if action == "list":
            return await self.list(request)
        if action not in ("add", "remove") or not rest.strip():
            return self.usage()
        if not await may_change():
            return NOT_ALLOWED_TO_SCHEDULE
        return await (self.add(request, rest) if action == "add" else self.remove(request, rest.strip()))

    async def add(self, request: CommandRequest, rest: str) -> str:
        quoted = QUOTED.match(rest)
        if quoted is None or not quoted.group(2).strip():
            return self.usage()
        spoken, text = quoted.group(1).strip(), quoted.group(2).strip()
        refused = self._refused(text)
        if refused:
            return refused
        try:
            when = parse_when(spoken, await self.tz_of(request.team, request.user))
        except WhenError as exc:
            return str(exc)
        if len(await self.store.of_channel(request.team, request.channel)) >= MAX_PER_CHANNEL:
            return f"This channel has {MAX_PER_CHANNEL} scheduled prompts already; remove one first."
        workspace = workspace_context.current()
        schedule = Schedule(self.store.new_id(), request.team, request.channel, request.user, text, when.cron, when.tz,
                            spoken, workspace.enterprise_id if workspace is not None else "",
                            bool(workspace is not None and workspace.is_enterprise_install))
        first = when.next_after(self.now())
        await self.store.add(schedule, first)
        log.info("%s added schedule %s in %s: %s", request.user, schedule.id, request.channel, when.cron)
        if self.audit is not None:  # what it asks is people's words: only whether it is a command, and which
            await self.audit.record("schedule.add", team=request.team, user=request.user, channel=request.channel,
                                    id=schedule.id, cron=when.cron, tz=when.tz,
                                    runs=text.split()[0] if text.startswith("/") else "a prompt")
        return (f"Scheduled `{schedule.id}`: {spoken} (`{when.cron}`, {when.tz}); first on {when_text(first, when.tz)}. "
                f"Each run posts here and answers in its thread. `{self.command} schedule remove {schedule.id}` stops it.")

    def _refused(self, text: str) -> str | None:
        command = text.split(maxsplit=1)[0]
        if not command.startswith("/"):
            return None
        if command == self.command:
            return f"`{self.command}` itself cannot be scheduled; schedule a prompt or a command such as `/summarize`."
        if command not in self.catalog.commands:
            known = ", ".join(f"`{c}`" for c in sorted(self.catalog.commands))
            return f"I don't know `{command}`; the commands I can schedule are {known}."
        return None

    async def list(self, request: CommandRequest) -> str:
        found = await self.store.of_channel(request.team, request.channel)
        if not found:
            return f'No scheduled prompts here. Add one with `{self.command} schedule add "every weekday at 9:00" <prompt>`.'
        lines = ["*Scheduled prompts here*"]
        for schedule, upcoming in found:
            following = f"next {when_text(upcoming, schedule.tz)}" if upcoming else "not scheduled"
            lines.append(f"• `{schedule.id}` {schedule.spoken or schedule.cron} (`{schedule.cron}`, {schedule.tz}; "
                         f"{following}), by <@{schedule.creator}>: {schedule.text[:200]}")
        return "\n".join(lines)

    async def remove(self, request: CommandRequest, schedule_id: str) -> str:
        schedule = await self.store.get(request.team, schedule_id.strip("`"))
        if schedule is None or schedule.channel != request.channel:
            return f"There is no scheduled prompt `{schedule_id}` here (`{self.command} schedule list` shows them)."
        await self.store.remove([schedule])
        log.info("%s removed schedule %s in %s", request.user, schedule.id, request.channel)
        if self.audit is not None:
            await self.audit.record("schedule.remove", team=request.team, user=request.user, channel=request.channel,
                                    id=schedule.id)
        return f"Removed `{schedule.id}`: it will not run again."
