"""What the stages of an answer share: who the bot is, the token budget, the interfaces of
what they read and write, and the plain dataclasses that flow from one stage to the next."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Protocol, Sequence

from bot.llm.model import ModelReply
from bot.llm.writer import ReplyWriter
from bot.memory.conversation import StoredMessage
from bot.slack.events import IncomingMessage


@dataclass(frozen=True)
class BotIdentity:
    user_id: str
    bot_id: str
    team_id: str


@dataclass(frozen=True)
class Budget:
    max_context_tokens: int
    trim_target_ratio: float


class ThreadReader(Protocol):
    async def earlier_in_thread(
        self, channel: str, thread_ts: str, before_ts: str, max_messages: int
    ) -> list[Mapping[str, Any]]: ...

    async def own_messages_since(self, channel: str, thread_ts: str | None, since_ts: str, bot_id: str) -> list[str]: ...


class ReplyFactory(Protocol):
    def __call__(
        self, message: IncomingMessage, *, replace: Sequence[str] = (),
        on_shown: Callable[[Sequence[str]], Awaitable[None]] | None = None,
        may_write: Callable[[], bool] | None = None,
    ) -> ReplyWriter: ...


class PrivateNotes(Protocol):
    async def note(self, message: IncomingMessage, text: str) -> None: ...


@dataclass(frozen=True)
class Context:
    """What a request is built around (``prepare``): the system prompt (the same for every
    request of the conversation, so the provider can cache it with the history after it),
    the note in the latest user turn (today's date, who wrote the latest message) and their size."""

    system_prompt: str
    note: str
    fixed_tokens: int  # the system prompt's and the note's
    cap: int  # most tokens one message may have
    prompt_name: str
    prompt_version: int
    model: str | None = None  # the channel's model (None: the deployment's)
    variables: tuple[tuple[str, str], ...] = ()  # what the system prompt was rendered with (kept with the answer)
    tools: tuple[str, ...] | None = None  # the channel's tools, within what the answer is offered (None: no narrowing)
    variant: str = ""  # the prompt experiment's variant this request was made with ("": none)
    summary: str = ""  # the conversation's summary of turns dropped earlier (at the system prompt's end)
    summary_usage: Any = None  # a new summary's request (bot.usage.ledger.CallUsage), to be kept with the commit
    knowledge: str = ""  # team knowledge's passages for this question, before the note (bot/answer/retrieve.py)
    sources: tuple[tuple[int, str, str], ...] = ()  # their sources: (number, name, link), for the citations
    knowledge_usage: Any = None  # the question's embedding (a CallUsage), to be kept with the commit


@dataclass
class Answered:
    """A generated answer (``generate``), shown in Slack (``deliver``), waiting to be stored (``record``)."""

    turn: StoredMessage | None  # None: the model failed (a sentence was shown), or the answer was not given
    posted: list[str]
    stopped: bool = False
    usage: ModelReply | None = None
    tool_turns: list[StoredMessage] = field(default_factory=list)  # the answer's tool calls and results, before it
    seconds: float = 0.0  # model request sent -> the answer's last message
    first_token_seconds: float | None = None
    model: str = ""  # the model asked (a prompt file's, an eval's, else the conversation's)


async def settle(starting: asyncio.Future[bool]) -> None:
    """A reply start that will not be used: wait for it (its message is replaced by whoever does the job)."""
    if not starting.done():
        starting.cancel()
    with contextlib.suppress(BaseException):
        await starting


async def release(reply: ReplyWriter) -> None:
    """A reply that will not start gives back its place in the workspace's budget."""
    give_back = getattr(reply, "release", None)
    if give_back is not None:
        await give_back()
