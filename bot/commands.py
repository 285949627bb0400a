"""Prompt commands: a slash command declared by a prompt file, run once.

``prepare`` is instant (it only parses the text), so the command can be
acknowledged within Slack's 3 seconds with either the usage hint or "working
on it"; ``run`` reads Slack if the prompt summarises, renders the prompt, and
streams the model's answer into a reply writer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping, Protocol, Sequence

from redis.exceptions import RedisError

from bot.command_args import ArgumentError, HistoryRequest, parse_arguments
from bot.llm.generation import billed_tokens, failure_sentence, generate
from bot.llm.model import ModelClient, ModelError, ModelOptions, ModelReply
from bot.prompts import Prompt, PromptCatalog
from bot.llm.writer import ReplyWriter
from bot.responder import Responder
from bot.slack.transcripts import transcript_lines
from bot.memory.batch import Batch
from bot.tools.base import ToolContext
from bot.usage.ledger import CallUsage
from bot.usage.quotas import refusal
from bot.slack.audience import CANNOT_READ, Audience
from bot.slack.history import HistoryUnavailable
from bot.slack.text import mentioned_user_ids, to_readable
from bot.memory.store import ConversationStore
from bot.tokens import TokenCounter
from bot.memory.trimming import message_token_cap
from bot.wording import CANNOT_READ_CONVERSATION, INTERNAL_FAILURE, STORE_FAILED

log = logging.getLogger(__name__)

HISTORY_ERRORS = {
    "not_in_channel": "I can't read this channel: invite me first (/invite @{bot}), then try again.",
    "channel_not_found": "I can't see that conversation: invite me to its channel first, then try again.",
    "thread_not_found": "I can't find that thread; check the link and try again.",
    "missing_scope": "I'm not allowed to read this kind of conversation (the app lacks a permission).",
    "ratelimited": "Slack is limiting how often I can read messages; please try again in a minute.",
    "history_rate_limited": "Slack lets this app read a conversation's messages once a minute in this workspace, "
                            "and that read is taken: please try again in a minute.",
}
HISTORY_FAILED = "I couldn't read those messages from Slack just now; please try again in a minute."
NOTHING_TO_SUMMARISE = "There are no messages there for me to summarise."


@dataclass(frozen=True)
class CommandRequest:
    """One slash command invocation, whatever surface it came from."""

    team: str
    channel: str
    user: str
    command: str
    text: str
    direct: bool = False

    @classmethod
    def from_slack(cls, payload: Mapping[str, Any]) -> "CommandRequest":
        channel = str(payload.get("channel_id") or "")
        return cls(
            team=str(payload.get("team_id") or ""),
            channel=channel,
            user=str(payload.get("user_id") or ""),
            command=str(payload.get("command") or ""),
            text=str(payload.get("text") or ""),
            direct=channel.startswith("D") or payload.get("channel_name") == "directmessage",
        )


@dataclass(frozen=True)
class PreparedCommand:
    request: CommandRequest
    prompt: Prompt
    values: dict[str, str]
    history: HistoryRequest | None


class HistorySource(Protocol):
    """Where a summary's messages come from (Slack, or the console's own conversation)."""

    async def channel(self, channel: str, count: int) -> list[Mapping[str, Any]]: ...

    async def thread(self, channel: str, thread_ts: str, max_messages: int) -> list[Mapping[str, Any]]: ...


def usage_hint(prompt: Prompt, problem: str | None = None) -> str:
    header = prompt.header
    hint = f"Usage: `{header.command} {header.usage}`".rstrip() + f" (`{header.command}`: {header.description})"
    return f"{problem[0].upper() + problem[1:]}. {hint}" if problem else hint


class CommandRunner:
    def __init__(
        self,
        *,
        catalog: PromptCatalog,
        model: ModelClient,
        counter: TokenCounter,
        store: ConversationStore,
        responder: Responder,
        history: HistorySource,
        max_context_tokens: int,
        bot_name: str,
        now: Callable[[], datetime],
    ) -> None:
        self.catalog = catalog
        self.model = model
        self.counter = counter
        self.store = store
        self.responder = responder
        self.history = history
        self.max_context_tokens = max_context_tokens
        self.bot_name = bot_name
        self.now = now

    def prepare(self, request: CommandRequest) -> PreparedCommand | str:
        """Parse the command's text; a string is the usage hint to show instead."""
        prompt = self.catalog.for_command(request.command)
        if prompt is None:
            return f"I don't know {request.command}. Try /assistant help."
        try:
            values, history = parse_arguments(prompt.header.arguments, request.text)
        except ArgumentError as exc:
            return usage_hint(prompt, str(exc))
        return PreparedCommand(request, prompt, values, history)

    async def run(self, prepared: PreparedCommand, writer: ReplyWriter) -> None:
        """Answer the command through ``writer``; errors end as one plain sentence."""
        try:
            await self._run(prepared, writer)
        except RedisError as exc:
            log.error("store unavailable for %s: %s", prepared.request.command, type(exc).__name__)
            await writer.fail(STORE_FAILED)
        except Exception:
            log.exception("command %s failed", prepared.request.command)
            await writer.fail(INTERNAL_FAILURE)

    async def _run(self, prepared: PreparedCommand, writer: ReplyWriter) -> None:
        request, prompt, header = prepared.request, prepared.prompt, prepared.prompt.header
        persona = await self.store.get_persona(request.team, request.channel)
        variables = await self.responder.common_variables(request.team, request.channel, request.user, request.direct)
        system_prompt = self.responder.system_prompt_for(variables, persona)
        system_tokens = self.responder.count_system(system_prompt)
        values = dict(variables)
        for name, value in prepared.values.items():
            values[name] = await self._readable(request.team, value)
        if prepared.history is not None:
            linked = prepared.history.channel
            audience = Audience(request.team, request.channel, request.user, header.visibility != "public")
            refused = await self.responder.directory.may_show(linked, audience) \
                if linked and linked != request.channel else None
            if refused is not None:
                log.info("%s refused: %s's content may not be shown to this audience", request.command, linked)
                await writer.fail(CANNOT_READ_CONVERSATION if refused == CANNOT_READ else refused)
                return
            empty_render = self.counter.count_message(prompt.render({**values, "messages": "", "source": ""}))
            room = message_token_cap(self.max_context_tokens, system_tokens) - empty_render
            try:
                values["messages"], values["source"] = await self._transcript(request, prepared.history, room)
            except HistoryUnavailable as exc:
                log.info("%s could not read history: %s", request.command, exc.error)
                await writer.fail(HISTORY_ERRORS.get(exc.error, HISTORY_FAILED).format(bot=self.bot_name))
                return
            if not values["messages"]:
                await writer.fail(NOTHING_TO_SUMMARISE)
                return
        user_message = prompt.render(values)
        user_message = self.counter.shorten(user_message, message_token_cap(self.max_context_tokens, system_tokens))
        messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": user_message}]
        refused = await self._refusal(request)
        if refused is not None:
            self._count("refused")
            await writer.fail(refused)
            return
        if not await writer.start():
            log.warning("could not deliver %s; abandoned", request.command)
            return
        options = ModelOptions(model=header.model, temperature=header.temperature, max_output_tokens=header.max_output_tokens)
        tools = self.responder.tool_rounds(
            ToolContext(request.team, request.channel, request.user, only_asker=header.visibility != "public"),
            writer, patterns=header.tools,
            room_tokens=self.max_context_tokens - system_tokens - self.counter.count_message(user_message),
        ) if header.tools else None
        answer = ModelReply()
        try:
            await generate(self.model, messages, writer, options, answer=answer, tools=tools,
                           request_tokens=system_tokens + self.counter.count_message(user_message) + 3)
        except ModelError as exc:
            log.warning("model failed for %s: %s", request.command, exc.kind)
            self._count("model_error")
            await writer.fail(failure_sentence(exc))
            return
        finally:
            await self._bill(request, prompt.name, options.model or self.model.model, answer)
        await writer.finish(answer.text)
        self._count("answered")
        log.info("answered %s (%s v%d)", request.command, prompt.name, header.version)

    async def _bill(self, request: CommandRequest, prompt_name: str, model: str, answer: ModelReply) -> None:
        """Every request the command made is paid for, whether it answered or failed."""
        prompt_tokens, completion_tokens = billed_tokens(answer, self.counter)
        ledger = self.responder.ledger
        if ledger is None or not (prompt_tokens or completion_tokens):
            return
        batch = Batch()
        usage = CallUsage(model, prompt_name, prompt_tokens, answer.usage.cached_tokens, completion_tokens)
        cost = ledger.record_in(batch, request.team, request.channel, request.user, usage, self.now())
        try:
            await batch.run(self.store.redis)
        except RedisError:
            log.warning("could not record the usage of %s", request.command)
        if self.responder.metrics is not None:
            self.responder.metrics.model_call(usage.model, input_tokens=usage.input_tokens,
                                              cached_tokens=usage.cached_tokens, output_tokens=usage.output_tokens,
                                              cost=cost)

    def _count(self, outcome: str) -> None:
        if self.responder.metrics is not None:
            self.responder.metrics.answered("command", outcome)

    async def _refusal(self, request: CommandRequest) -> str | None:
        """Why the command may not reach the model (the allowlists, a quota), in one sentence; None: it may."""
        responder = self.responder
        refused = responder.access.refusal(request.user, request.channel, request.direct)
        if refused is not None or responder.ledger is None or not responder.quotas.any:
            return refused
        spent = await responder.ledger.spent(self.store.redis, request.team, request.channel, request.user, self.now())
        over = refusal(spent, responder.quotas, request.user, self.now())
        if over is not None:
            log.info("quota %s: %s refused for %s", over.limit, request.command, request.user)
        return over.sentence if over is not None else None

    async def _readable(self, team: str, text: str) -> str:
        names = await self.responder.directory.user_names(team, mentioned_user_ids(text))
        return to_readable(text, names)

    async def _transcript(self, request: CommandRequest, wanted: HistoryRequest, room: int) -> tuple[str, str]:
        """The messages to summarise as ``[time] name: text`` lines, newest kept
        when they do not all fit ``room`` tokens; and a description of the source."""
        channel = wanted.channel or request.channel
        cap = getattr(self.history, "max_per_read", None)
        count = min(wanted.count, cap) if cap else wanted.count
        if wanted.thread_ts:
            raw = await self.history.thread(channel, wanted.thread_ts, count)
            source = "a thread" if count == wanted.count else f"the first {count} messages of a thread"
        else:
            raw = await self.history.channel(channel, count)
            source = f"the last {count} messages of the channel"
        if channel != request.channel or wanted.thread_ts:
            channel_name = await self.responder.directory.channel_name(request.team, channel)
            source += f" in {channel_name}"
        if count < wanted.count:
            source += f" (Slack lets this app read at most {cap} messages at a time)"
        lines = await self._lines(request.team, raw)
        counts = [self.counter.count_text(line) + 1 for line in lines]
        kept, used = 0, 0
        for count in reversed(counts):
            if used + count > room:
                break
            used += count
            kept += 1
        return "\n".join(lines[len(lines) - kept :]), source

    async def _lines(self, team: str, raw: Sequence[Mapping[str, Any]]) -> list[str]:
        identity = self.responder.identity
        return await transcript_lines(raw, team=team, directory=self.responder.directory, bot_user_id=identity.user_id,
                                      bot_id=identity.bot_id, bot_name=self.bot_name, tz=self.now().tzinfo)
