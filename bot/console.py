"""``python -m bot chat``: a conversation in the terminal through the very same
pipeline as Slack (prompt files, personas, store, budgets, model client), for
prompt work without Slack.

Plain lines are messages in one running direct conversation; ``/command text``
lines run the prompt commands and the management command; ``/quit`` ends.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Iterable, Mapping, TextIO

from bot.commands import CommandRequest
from bot.memory.conversation import ConversationId
from bot.slack.events import IncomingMessage
from bot.responder import BotIdentity
from bot.service_wiring import build_services
from bot.services import Core, Services
from bot.memory.store import ConversationStore

TEAM = "console"
CHANNEL = "Dconsole"
USER = "Uconsole"
IDENTITY = BotIdentity(user_id="Uconsolebot", bot_id="Bconsolebot", team_id=TEAM)
PROMPT = "you> "
BOT_PREFIX = "bot> "


class ConsoleDirectory:
    def __init__(self, user_name: str) -> None:
        self.name = user_name

    async def user_names(self, team: str, users: Iterable[str]) -> dict[str, str]:
        return {user: await self.user_name(team, user) for user in users}

    async def user_trusts(self, team: str, users: Iterable[str]) -> dict[str, str]:
        return {}  # the console has one person, a full member

    async def user_name(self, team: str, user: str) -> str:
        return self.name if user == USER else user

    async def channel_name(self, team: str, channel: str) -> str:
        return "the local console"

    async def channel_creator(self, team: str, channel: str) -> str | None:
        return USER

    async def may_show(self, channel: str, audience: Any) -> str | None:
        return None  # the console reads no Slack conversation

    async def user_tz(self, team: str, user: str) -> str:
        return "UTC"


class ConsoleReply:
    """Prints an answer as it streams."""

    def __init__(self, output: TextIO) -> None:
        self.output = output
        self.shown = 0
        self.started = False

    async def start(self) -> bool:
        self.started = True
        self.output.write(BOT_PREFIX)
        self.output.flush()
        return True

    async def progress(self, text: str) -> None:
        self.output.write(text[self.shown :])
        self.output.flush()
        self.shown = len(text)

    async def finish(self, text: str) -> list[str]:
        self.output.write(text[self.shown :] + "\n")
        self.output.flush()
        return [_new_ts()]

    async def fail(self, sentence: str) -> None:
        lead = "\n" if self.shown else "" if self.started else BOT_PREFIX
        self.output.write(lead + sentence + "\n")
        self.output.flush()


class ConsoleHistory:
    """/summarize in the console summarises the console's own conversation."""

    def __init__(self, store: ConversationStore) -> None:
        self.store = store

    async def channel(self, channel: str, count: int) -> list[Mapping[str, Any]]:
        state = await self.store.load(ConversationId(TEAM, CHANNEL, ConversationId.TOP_LEVEL_DM))
        raw = []
        for turn in state.messages[-count:]:
            if turn.role == "assistant":
                raw.append({"ts": turn.ts, "user": IDENTITY.user_id, "bot_id": IDENTITY.bot_id, "text": turn.content})
            else:
                raw.append({"ts": turn.ts, "user": turn.user or USER, "text": turn.content})
        return raw

    async def thread(self, channel: str, thread_ts: str, max_messages: int) -> list[Mapping[str, Any]]:
        return await self.channel(channel, max_messages)


_last_ts = 0.0


def _new_ts() -> str:
    """A Slack-style ts, strictly increasing within the process."""
    global _last_ts
    _last_ts = max(time.time(), _last_ts + 0.000001)
    return f"{_last_ts:.6f}"


def console_services(core: Core, output: TextIO, user_name: str) -> Services:
    return build_services(
        core,
        directory=ConsoleDirectory(user_name),
        replies=lambda message, replace=(), on_shown=None, may_write=None: ConsoleReply(output),
        threads=None,
        history=ConsoleHistory(core.store),
        identity=IDENTITY,
    )


def read_lines(input_stream: TextIO) -> "asyncio.Queue[str]":
    """Lines of ``input_stream`` as they are typed ("" at the end), read by a daemon
    thread: a blocked read never keeps Ctrl-C or SIGTERM from ending the console."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()

    def pump() -> None:
        while True:
            try:
                line = input_stream.readline()
            except (OSError, ValueError):
                line = ""
            try:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            except RuntimeError:  # the loop is closed: the console has ended
                return
            if not line:
                return

    threading.Thread(target=pump, name="console-input", daemon=True).start()
    return queue


async def run_console(core: Core, input_stream: TextIO, output: TextIO, *, user_name: str = "you") -> None:
    services = console_services(core, output, user_name)
    await services.dispatcher.start()
    try:
        await _chat(core, services, read_lines(input_stream), output)
    finally:
        loop = asyncio.get_running_loop()
        await services.dispatcher.shutdown(loop.time() + 1, clock=loop.time)
        await services.dispatcher.leave()


async def _chat(core: Core, services: Services, lines: "asyncio.Queue[str]", output: TextIO) -> None:
    management = services.management.command
    output.write(
        f"Chatting with {core.settings.openai_model} through the bot's own pipeline "
        f"({'embedded store' if core.settings.embedded_store else 'Redis'}). "
        f"Commands: {' '.join(sorted(core.catalog.commands))} {management}; /quit to leave.\n"
    )
    while True:
        output.write(PROMPT)
        output.flush()
        line = await lines.get()
        if not line:
            output.write("\n")
            break
        line = line.strip()
        if not line:
            continue
        if line in ("/quit", "/exit"):
            break
        if line.startswith("/"):
            command, _, text = line.partition(" ")
            request = CommandRequest(team=TEAM, channel=CHANNEL, user=USER, command=command, text=text, direct=True)
            if command == management:
                output.write(await services.management.handle(request) + "\n")
                continue
            prepared = services.commands.prepare(request)
            if isinstance(prepared, str):
                output.write(prepared + "\n")
                continue
            await services.commands.run(prepared, ConsoleReply(output))
            continue
        message = IncomingMessage(
            team=TEAM, channel=CHANNEL, channel_type="im", user=USER, text=line, ts=_new_ts(),
            thread_ts=None, mentioned=True, source="message",
        )
        await services.dispatcher.handle(message)
