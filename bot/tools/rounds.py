"""The tool calls of one answer: run each round's calls (in parallel), turn the results
into stored turns, and show them while they run."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from bot.operations.audit import arguments_hash
from bot.llm.calls import ToolCall
from bot.memory.conversation import StoredMessage
from bot.tokens import TokenCounter
from bot.tools.base import Approver, TaskBoard, TaskView, ToolContext, ToolOutcome, ToolSpec
from bot.tools.toolbox import Toolbox

log = logging.getLogger(__name__)

RESULT_MARKER = "\n[… tool result shortened …]\n"
DETAILS_CHARS = 200
DENIED = "Error: denied by the user."
NOT_APPROVED = {  # what the model reads when a call that needs approval does not run
    "denied": DENIED,
    "timed out": "Error: the user did not answer the approval request in time, so it did not run.",
    "too long": "Error: the arguments are too long to show the user in full for approval, so it did not run; "
                "call it with shorter arguments.",
    "not shown": "Error: the approval request could not be shown to the user, so it did not run.",
}


@dataclass(frozen=True)
class ToolLimits:
    max_rounds: int = 6
    timeout_seconds: float = 30.0
    max_result_tokens: int = 2_000


def call_tokens(counter: TokenCounter, text: str, calls: Sequence[ToolCall]) -> int:
    """Tokens of an assistant turn that asks for calls: its text, each call's name and arguments."""
    return counter.count_message(text) + sum(counter.count_text(c.name + c.arguments) + 3 for c in calls)


class ToolRounds:
    """One answer's tools: what the model may call, and the turns the calls made."""

    def __init__(
        self,
        toolbox: Toolbox,
        specs: Sequence[ToolSpec],
        context: ToolContext,
        *,
        limits: ToolLimits,
        counter: TokenCounter,
        approver: Approver | None = None,
        board: TaskBoard | None = None,
        room_tokens: int | None = None,
        audit: Any = None,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.redact = redact  # a result's secrets and personal data as placeholders (REDACT), before the model
        self.audit = audit  # bot.operations.audit.AuditLog: every call (tool, server, asker, arguments' hash, outcome)
        self.toolbox = toolbox
        self.specs = {spec.name: spec for spec in specs}
        self.context = context
        self.limits = limits
        self.counter = counter
        self.approver = approver
        self.board = board
        self.turns: list[StoredMessage] = []  # every round's call and result turns, in order
        self.rounds = 0
        self.tasks: list[TaskView] = []
        self.definitions = tuple(spec.as_openai() for spec in specs)
        self.room_tokens = room_tokens  # what the request may still grow by within the context budget
        self.used_tokens = 0

    @property
    def may_call(self) -> bool:
        """Whether the next request may offer tools (False: it must answer in text)."""
        if self.room_tokens is not None and self.used_tokens >= self.room_tokens:
            return False  # the results so far fill the context budget: answer with them
        return bool(self.specs) and self.rounds < self.limits.max_rounds

    async def run(self, text: str, calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
        """Run one round's calls; returns the messages to add to the request."""
        self.rounds += 1
        asked = StoredMessage("assistant", text, call_tokens(self.counter, text, calls), tool_calls=tuple(calls))
        tasks = [TaskView(call.id, self._title(call), "in_progress", _details(call.arguments)) for call in calls]
        self.tasks.extend(tasks)
        await self._show()
        outcomes = await asyncio.gather(*(self._one(call, task) for call, task in zip(calls, tasks)))
        results = [self._result_turn(call, outcome) for call, outcome in zip(calls, outcomes)]
        self.turns += [asked, *results]
        self.used_tokens += asked.tokens + sum(turn.tokens for turn in results)
        return [asked.as_chat(), *(turn.as_chat() for turn in results)]

    def _title(self, call: ToolCall) -> str:
        spec = self.specs.get(call.name)
        return spec.label[:1].upper() + spec.label[1:] if spec is not None else call.name

    async def _one(self, call: ToolCall, task: TaskView) -> ToolOutcome:
        outcome = await self._outcome(call)
        await self._audit("tool.call", call, outcome="ok" if outcome.ok else "error")  # never what the tool said
        task.status = "complete" if outcome.ok else "error"
        task.sources = outcome.sources
        await self._show()
        return outcome

    async def _outcome(self, call: ToolCall) -> ToolOutcome:
        spec = self.specs.get(call.name)
        if spec is None:
            return ToolOutcome(f"Error: there is no tool named {call.name!r}.", ok=False)
        try:
            arguments = json.loads(call.arguments or "{}")
        except ValueError as exc:
            return ToolOutcome(f"Error: the arguments are not valid JSON ({exc.msg}); call the tool again.", ok=False)
        if not isinstance(arguments, dict):
            return ToolOutcome("Error: the arguments must be a JSON object.", ok=False)
        provider = self.toolbox.provider_of(spec)
        if provider is None:
            return ToolOutcome(f"Error: {spec.name} is not available right now.", ok=False)
        if spec.confirm:
            decision = await self.approver.approve(spec, arguments, self.context) if self.approver else "not shown"
            await self._audit("tool.approval", call, decision=decision)
            if decision != "approved":
                return ToolOutcome(NOT_APPROVED.get(decision, DENIED), ok=False)
        try:
            async with asyncio.timeout(self.limits.timeout_seconds):
                return await provider.call(spec, arguments, self.context)
        except TimeoutError:
            log.warning("tool %s timed out after %.0fs", spec.name, self.limits.timeout_seconds)
            return ToolOutcome(f"Error: the tool did not answer within {self.limits.timeout_seconds:g} seconds.", ok=False)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a tool's failure is the model's to handle, never the user's to read
            log.warning("tool %s failed: %s", spec.name, type(exc).__name__)
            return ToolOutcome("Error: the tool failed.", ok=False)

    async def _audit(self, action: str, call: ToolCall, **details: str) -> None:
        if self.audit is None:
            return
        spec = self.specs.get(call.name)
        try:
            arguments = json.loads(call.arguments or "{}")
        except ValueError:
            arguments = {"unreadable": call.arguments}
        await self.audit.record(action, team=self.context.team, user=self.context.user, channel=self.context.channel,
                                tool=spec.pattern_name if spec is not None else call.name,
                                server=(spec.source or "built-in") if spec is not None else "none",
                                arguments=arguments_hash(arguments if isinstance(arguments, dict) else {"value": arguments}),
                                **details)

    def _result_turn(self, call: ToolCall, outcome: ToolOutcome) -> StoredMessage:
        text = self.redact(outcome.text) if self.redact is not None else outcome.text
        text = self.counter.shorten(text, self.limits.max_result_tokens, marker=RESULT_MARKER)
        return StoredMessage("tool", text, self.counter.count_message(text), tool_call_id=call.id)

    async def _show(self) -> None:
        if self.board is None:
            return
        try:
            await self.board.working([TaskView(t.id, t.title, t.status, t.details, list(t.sources)) for t in self.tasks])
        except asyncio.CancelledError:
            raise
        except Exception:  # showing progress must never break the answer
            log.warning("showing tool progress failed", exc_info=True)


def _details(arguments: str) -> str:
    text = " ".join(arguments.split())
    return text if len(text) <= DETAILS_CHARS else text[: DETAILS_CHARS - 1] + "…"

