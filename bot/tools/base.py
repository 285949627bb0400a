"""What a tool is, what it returns, and who asked for it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.slack.audience import Audience

# OpenAI function names: letters, digits, "_" and "-", at most 64.
_NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9_-]")
NAME_SEPARATOR = "__"


def model_name(source: str, tool: str) -> str:
    """The name the model sees: an MCP tool prefixed with its server (two servers' tools
    cannot collide), a built-in tool as it is."""
    name = tool if not source else f"{source}{NAME_SEPARATOR}{tool}"
    return _NOT_ALLOWED.sub("_", name)[:64]


@dataclass(frozen=True)
class ToolSpec:
    """One tool as the model sees it, and where it runs."""

    name: str  # as the model sees it
    description: str
    parameters: dict[str, Any]
    source: str = ""  # the MCP server's name; "" for a built-in tool
    original: str = ""  # the tool's own name on its server
    title: str = ""  # for people: "Searching orders"
    confirm: bool = False  # run only once the asker approves

    @property
    def pattern_name(self) -> str:
        """How settings and prompt files name it: ``server:tool``, or the built-in's name."""
        return f"{self.source}:{self.original}" if self.source else self.name

    @property
    def label(self) -> str:
        return self.title or (self.original or self.name).replace("_", " ")

    def as_openai(self) -> dict[str, Any]:
        return {"type": "function",
                "function": {"name": self.name, "description": self.description[:1024], "parameters": self.parameters}}


@dataclass(frozen=True)
class Source:
    """A link a tool's result came from (shown with the task in Slack)."""

    url: str
    title: str


@dataclass
class ToolOutcome:
    """What a tool returned: text for the model, and whether it worked."""

    text: str
    ok: bool = True
    sources: list[Source] = field(default_factory=list)


@dataclass(frozen=True)
class ToolContext:
    """Who asked, where: the tools act for the asker and only see what they may see."""

    team: str
    channel: str
    user: str
    thread_ts: str | None = None
    action_token: str = ""  # Slack's token for acting on the asker's behalf (search), from the event
    only_asker: bool = False  # the answer is seen by the asker alone (their DM with the bot, an ephemeral reply)

    @property
    def audience(self) -> Audience:
        return Audience(self.team, self.channel, self.user, self.only_asker)


@dataclass
class TaskView:
    """A tool call as people see it while it runs."""

    id: str
    title: str
    status: str  # "in_progress", "complete", "error"
    details: str = ""
    sources: list[Source] = field(default_factory=list)


class ToolProvider(Protocol):
    """A source of tools (the built-ins, an MCP server)."""

    def tools(self) -> list[ToolSpec]: ...

    async def call(self, spec: ToolSpec, arguments: dict[str, Any], context: ToolContext) -> ToolOutcome: ...


class Approver(Protocol):
    async def approve(self, spec: ToolSpec, arguments: dict[str, Any], context: ToolContext) -> str:
        """"approved", or why not: "denied", "timed out", "too long" (to show in full), "not shown"."""


class TaskBoard(Protocol):
    """Where running tools are shown (a reply writer that can)."""

    async def working(self, tasks: list[TaskView]) -> None: ...
