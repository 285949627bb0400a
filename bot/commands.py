"""Prompt commands: a slash command declared by a prompt file, run once.

``prepare`` is instant (it only parses the text), so the command can be
acknowledged within Slack's 3 seconds with either the usage hint or "working
on it"; ``run`` runs the answer's stages (bot/answer/) for it: admit, its request (the
prompt rendered, with the Slack messages it summarises), generate, deliver, record.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping, Protocol, Sequence

from redis.exceptions import RedisError

from bot.answer.admit import AdmissionIn
from bot.answer.generate import ToolChoice
from bot.answer.parts import Context
from bot.answer.prepare import prompt_file_request
from bot.channels.config import ChannelConfig
from bot.slack.canvases import CanvasError, CanvasWriter
from bot.command_args import ArgumentError, HistoryRequest, parse_arguments
from bot.delivery.flood import FloodLimit
from bot.llm.model import ModelOptions
from bot.llm.writer import ReplyWriter
from bot.memory.batch import Batch
from bot.memory.conversation import StoredMessage
from bot.memory.store import ConversationStore
from bot.memory.trimming import message_token_cap
from bot.prompts import Prompt, PromptCatalog
from bot.responder import Responder
from bot.slack.audience import CANNOT_READ, Audience
from bot.slack.events import COMMAND, IncomingMessage
from bot.slack.history import HistoryUnavailable
from bot.slack.text import mentioned_user_ids, to_readable
from bot.slack.transcripts import transcript_lines
from bot.tokens import TokenCounter
from bot.tools.base import ToolContext
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
    trigger: str = field(default_factory=lambda: f"cmd-{time.time_ns()}")  # Slack's trigger_id: this invocation

    def as_message(self) -> IncomingMessage:
        """The invocation as the job the answer's stages take (kind COMMAND: it is no thread)."""
        return IncomingMessage(self.team, self.channel, "im" if self.direct else "channel", self.user, self.text,
                               self.trigger, None, True, self.command, kind=COMMAND)

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
            **({"trigger": str(payload["trigger_id"])} if payload.get("trigger_id") else {}),
        )


@dataclass(frozen=True)
class PreparedCommand:
    request: CommandRequest
    prompt: Prompt
    values: dict[str, str]
    history: HistoryRequest | None
    in_channel: bool = False  # answered in the channel whatever the file says (a scheduled command)
    to_canvas: bool = False  # "… to canvas": the answer is written to a new canvas too

    @property
    def private(self) -> bool:
        """Whether only the asker sees the answer (what tools and summaries may show depends on it)."""
        return self.prompt.header.visibility != "public" and not self.in_channel


class HistorySource(Protocol):
    """Where a summary's messages come from (Slack, or the console's own conversation)."""

    async def channel(self, channel: str, count: int) -> list[Mapping[str, Any]]: ...

    async def thread(self, channel: str, thread_ts: str, max_messages: int) -> list[Mapping[str, Any]]: ...


def usage_hint(prompt: Prompt, problem: str | None = None) -> str:
    header = prompt.header
    hint = f"Usage: `{header.command} {header.usage}`".rstrip() + f" (`{header.command}`: {header.description})"
    return f"{problem[0].upper() + problem[1:]}. {hint}" if problem else hint


def canvas_suffix(text: str, prompt: Prompt) -> tuple[str, bool]:
    """``text`` without a closing "to canvas", and whether it had one (commands that summarise only)."""
    if not any(spec.kind == "history" for spec in prompt.header.arguments):
        return text, False
    stripped = text.rstrip()
    if stripped.lower() == "to canvas" or stripped.lower().endswith(" to canvas"):
        return stripped[: -len("to canvas")].rstrip(), True
    return text, False


class CommandRunner:
    def __init__(
        self,
        *,
        catalog: PromptCatalog,
        counter: TokenCounter,
        store: ConversationStore,
        responder: Responder,
        history: HistorySource,
        max_context_tokens: int,
        bot_name: str,
        now: Callable[[], datetime],
        flood: FloodLimit | None = None,
        canvases: CanvasWriter | None = None,
    ) -> None:
        self.canvases = canvases
        self.catalog = catalog
        self.flood = flood
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
        text, to_canvas = canvas_suffix(request.text, prompt)
        if to_canvas and self.canvases is None:
            return "Writing to a canvas is not switched on here (the operator's TOOL_WRITE_CANVAS)."
        try:
            values, history = parse_arguments(prompt.header.arguments, text)
        except ArgumentError as exc:
            return usage_hint(prompt, str(exc))
        return PreparedCommand(request, prompt, values, history, to_canvas=to_canvas)

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
        """The command as an answer's stages: admit (allowlists, flood, quotas) before Slack is
        read, its request (the prompt file rendered with its arguments and the messages it
        summarises), then generate, deliver and record as for any answer."""
        request, header, stages = prepared.request, prepared.prompt.header, self.responder
        message = request.as_message()
        refused = stages.access.refusal(request.user, request.channel, request.direct)
        if refused is not None:
            stages.outcomes.count(message, "not_allowed")
            await writer.fail(refused)
            return
        channel = await self.store.channel_config(request.team, request.channel)
        if not await stages.admit(message, writer, self._admission_in(message), tell=writer.fail,
                                  quotas=channel.quotas(stages.quotas)):
            return
        probe = stages.redact.guard()  # what the moderations endpoint reads: placeholders, as the model does
        if await stages.moderate.refused(message, probe.text(request.text) if probe else request.text, tell=writer.fail):
            return
        built = await self._request(prepared, writer, channel)
        if built is None:
            return
        context, turn, options = built
        guard = stages.redact.guard()  # REDACT: the request's secrets and personal data as placeholders
        turn = stages.redact.turns(guard, [turn])[0]
        if header.knowledge:  # team knowledge for the question, as a mention's answer gets it
            context = await stages.retrieve(message, context, turn)
        writer = stages.moderate.shown_as(stages.redact.shown_as(writer, guard))
        policy = stages.prepare.policy  # the file's own model, else the channel's; tools within the channel's
        context = dataclasses.replace(context, tools=channel.tools)
        options = dataclasses.replace(options, model=options.model or (policy.model_for(channel) if policy else None))
        tools = ToolChoice(ToolContext(request.team, request.channel, request.user,
                                       only_asker=prepared.private), header.tools)
        generated = await stages.generate(message, writer, context, [turn], 0, options=options, tools=tools,
                                          redact=guard and guard.text)
        generated = stages.retrieve.cite(context, await stages.moderate.output(message, writer, generated))
        if prepared.to_canvas and generated.text:
            generated.text += await self._to_canvas(prepared, guard.restore(generated.text) if guard else generated.text)
        answered = await stages.deliver(message, writer, generated)
        batch = Batch()
        stages.redact.findings_in(batch, message, guard)
        stages.retrieve.into(batch, message, context)
        stages.record(message, context, [turn], answered, batch)  # every request is paid for, answered or not
        try:
            await batch.run(self.store.redis)
        except RedisError:
            log.warning("could not record the usage of %s", request.command)

    async def _to_canvas(self, prepared: PreparedCommand, text: str) -> str:
        """Write the answer to a new canvas for its audience; the line that says where (or why not)."""
        assert self.canvases is not None
        request = prepared.request
        audience = Audience(request.team, request.channel, request.user, prepared.private)
        title = f"{request.command} {canvas_suffix(request.text, prepared.prompt)[0]}".strip() + f" ({self.now():%d %B %Y})"
        try:
            written = await self.canvases.write(audience, title=title, markdown=text)
        except CanvasError as exc:
            return f"\n\n_Not written to a canvas: {str(exc).removeprefix('Error: ')}_"
        return f"\n\n_Written to a canvas: [{written.title}]({written.link})_" if written.link else \
            "\n\n_Written to a canvas._"

    def _admission_in(self, message: IncomingMessage) -> AdmissionIn:
        """A command counts against its sender's flood limit like a message (by its trigger)."""
        flood = self.flood
        if flood is None:
            return lambda batch: lambda: None
        return lambda batch: flood.counted_in(batch, message.team, message.user, message.job_id)

    async def _request(
        self, prepared: PreparedCommand, writer: ReplyWriter, channel: ChannelConfig
    ) -> tuple[Context, StoredMessage, ModelOptions] | None:
        """The prompt file's request (prepare's and gather's part for a command); None when the
        asker was told why there is none (a source they may not show here, Slack would not
        give its messages, nothing to summarise)."""
        request, prompt = prepared.request, prepared.prompt
        prepare = self.responder.prepare
        variables = await prepare.common_variables(request.team, request.channel, request.user, request.direct)
        system_prompt = prepare.system_prompt_for(variables, channel.persona)
        system_tokens = prepare.count_system(system_prompt)
        values = dict(variables)
        for name, value in prepared.values.items():
            values[name] = await self._readable(request.team, value)
        if prepared.history is not None:
            told = await self._history_into(values, prepared, system_tokens)
            if told is not None:
                await writer.fail(told)
                return None
        return prompt_file_request(prompt, values, system_prompt, system_tokens, self.counter, self.max_context_tokens,
                                   variant=prompt.variant_for(f"{request.team}:{request.user}"))  # a person keeps theirs

    async def _history_into(self, values: dict[str, str], prepared: PreparedCommand, system_tokens: int) -> str | None:
        """Put the messages to summarise and their source into ``values``; else the sentence why not."""
        request, prompt, wanted = prepared.request, prepared.prompt, prepared.history
        assert wanted is not None
        linked = wanted.channel
        audience = Audience(request.team, request.channel, request.user, prepared.private)
        refused = await self.responder.directory.may_show(linked, audience) \
            if linked and linked != request.channel else None
        if refused is not None:
            log.info("%s refused: %s's content may not be shown to this audience", request.command, linked)
            return CANNOT_READ_CONVERSATION if refused == CANNOT_READ else refused
        empty_render = self.counter.count_message(prompt.render({**values, "messages": "", "source": ""}))
        room = message_token_cap(self.max_context_tokens, system_tokens) - empty_render
        try:
            values["messages"], values["source"] = await self._transcript(request, wanted, room)
        except HistoryUnavailable as exc:
            log.info("%s could not read history: %s", request.command, exc.error)
            return HISTORY_ERRORS.get(exc.error, HISTORY_FAILED).format(bot=self.bot_name)
        return None if values["messages"] else NOTHING_TO_SUMMARISE

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
