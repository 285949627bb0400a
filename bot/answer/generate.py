"""generate: the request (bot/llm/turns.py's shape, the latest turn's images), the model's
stream and tool rounds (bot/llm/generation.py), shown as it is written once the reply has
started, and Stop.  A model failure, an abandoned reply or an empty answer ends here in one
sentence (``Generated.text`` None); a finished text goes on to ``deliver``."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from bot.answer.outcomes import Outcomes
from bot.answer.parts import Budget, Context
from bot.delivery.stops import StopSignals
from bot.files.reader import SharedImage
from bot.llm.generation import failure_sentence, generate
from bot.llm.model import ModelClient, ModelError, ModelOptions, ModelReply
from bot.llm.routes import Facts
from bot.observability.metrics import surface_of
from bot.llm.writer import ReplyWriter
from bot.memory.conversation import ConversationId, StoredMessage
from bot.memory.trimming import build_request, request_tokens
from bot.slack.events import IncomingMessage
from bot.tokens import TokenCounter
from bot.tools.base import Approver, ToolContext
from bot.tools.rounds import ToolLimits, ToolRounds
from bot.tools.tenancy import ToolTenancy
from bot.tools.toolbox import Toolbox

log = logging.getLogger(__name__)


@dataclass
class Generated:
    """The model's answer: ``text`` to deliver, or None when the asker was already told why not."""

    text: str | None
    usage: ModelReply
    stopped: bool = False
    answer_from: int = 0  # where the answer's own text starts (what came before went with a tool round)
    tool_turns: list[StoredMessage] = field(default_factory=list)
    began: float = 0.0  # time.perf_counter() when the request went out
    kept: int = 0  # turns of history in the request
    dropped: int = 0  # turns trimmed off before it
    failure: str = ""  # why there is no text: the model's error kind, "stopped", "empty reply", "abandoned"
    model: str = ""  # the model asked


@dataclass(frozen=True)
class ToolChoice:
    """Which tools an answer may call (``patterns``; None: DEFAULT_TOOLS), acting for whom and
    shown to whom (``context``): a prompt file's own tools, for an ephemeral reply's one reader."""

    context: ToolContext
    patterns: Sequence[str] | None = None

    @classmethod
    def of(cls, message: IncomingMessage) -> "ToolChoice":
        return cls(ToolContext(message.team, message.channel, message.user, message.reply_thread_ts,
                               message.action_token, only_asker=message.is_direct))


class StopFlag:
    """Set by a Stop press: at once when the press names a message the answer knows, or
    at the next chunk when the press came before the answer knew its message."""

    def __init__(self, event: asyncio.Event) -> None:
        self.event = event
        self.late: Callable[[], bool] = lambda: False

    def is_set(self) -> bool:
        if not self.event.is_set() and self.late():
            self.event.set()
        return self.event.is_set()


def with_images(request: list[dict[str, Any]], images: Sequence[SharedImage]) -> list[dict[str, Any]]:
    """The request with the latest user turn's images as image input (they are not stored:
    later requests see the "[image: name]" marker in the turn's text)."""
    if not images:
        return request
    at = max(n for n, m in enumerate(request) if m["role"] == "user")
    parts: list[dict[str, Any]] = [{"type": "text", "text": request[at]["content"]}]
    parts += [{"type": "image_url", "image_url": {"url": image.data_url, "detail": "auto"}} for image in images]
    return [*request[:at], {**request[at], "content": parts}, *request[at + 1:]]


class Generate:
    def __init__(self, *, model: ModelClient, counter: TokenCounter, budget: Budget, outcomes: Outcomes,
                 cache_key: Callable[[ConversationId], str | None], stops: StopSignals | None,
                 toolbox: Toolbox | None, default_tools: Sequence[str], tool_limits: ToolLimits,
                 approver: Approver | None, tenancy: ToolTenancy, audit: Any = None, promoted: Any = None) -> None:
        self.promoted = promoted  # bot.training.promoted.PromotedModels: the promoted default model
        self.audit = audit
        self.model = model
        self.counter = counter
        self.budget = budget
        self.outcomes = outcomes
        self.cache_key = cache_key
        self.stops = stops
        self.toolbox = toolbox
        self.default_tools = tuple(default_tools)
        self.tool_limits = tool_limits
        self.approver = approver
        self.tenancy = tenancy

    async def __call__(
        self, message: IncomingMessage, reply: ReplyWriter, context: Context, kept: list[StoredMessage], drop: int,
        images: Sequence[SharedImage] = (), starting: asyncio.Future[bool] | None = None,
        options: ModelOptions | None = None, tools: ToolChoice | None = None,
        redact: Callable[[str], str] | None = None,
    ) -> Generated:
        """Stream the answer to ``kept`` into ``reply`` (admitted already).

        The model request goes out and, beside it, the thinking status or placeholder
        (``starting``: already on its way while files were read); text is shown only once
        the reply has started, and an answer Slack will not show is abandoned.  ``options``: the
        model and sampling a prompt file or an eval asks for (default: the conversation's);
        ``tools``: a prompt file's tools and audience (default: DEFAULT_TOOLS, for the message's);
        ``redact``: what tool results pass through before the model reads them (REDACT)."""
        request = with_images(build_request(context.system_prompt, kept, context.note, context.knowledge), images)
        size = request_tokens(kept, context.fixed_tokens)
        answer, stop = ModelReply(), asyncio.Event()
        flag = StopFlag(stop)
        started = asyncio.get_running_loop().create_future()
        choice = tools or ToolChoice.of(message)
        rounds = self.tool_rounds(choice.context, reply, room_tokens=self.budget.max_context_tokens - size,
                                  patterns=choice.patterns, within=context.tools, redact=redact)
        options = options or ModelOptions(model=context.model, cache_key=self.cache_key(message.conversation))
        if options.model is None and self.model.routes is not None:  # MODEL_ROUTES: the request named no model
            route = self.model.routes.pick(Facts(context.prompt_name.removesuffix("+persona"), message.channel,
                                                 surface_of(message), rounds is not None, bool(images), size))
            options = dataclasses.replace(options, model=route.model) if route is not None else options
        if options.model is None and self.promoted is not None:  # `finetune promote`: in place of OPENAI_MODEL
            options = dataclasses.replace(options, model=await self.promoted.default())
        model = options.model or self.model.model
        generation = asyncio.ensure_future(
            generate(self.model, request, reply, options=options, answer=answer, stop=flag, started=started,
                     tools=rounds, request_tokens=size))
        began = time.perf_counter()
        failure: list[str] = []
        try:
            stopped = await self._shown(message, reply, generation, stop, flag, started, starting, failure)
        finally:
            if not generation.done():
                generation.cancel()
                await asyncio.wait({generation})
            if not started.done():
                started.set_result(False)
        model = answer.model or model  # the model that answered (a fallback, if the asked one could not)
        if stopped is None:
            return Generated(None, answer, kept=len(kept), dropped=drop, failure=failure[0], model=model)
        text = answer.text.rstrip() if stopped else answer.text
        if stopped and not text:
            self.outcomes.count(message, "stopped")
            await reply.fail("_(stopped)_")
            return Generated(None, answer, kept=len(kept), dropped=drop, failure="stopped", model=model)
        if not text.strip():  # tools were called to the last round and no text followed
            self.outcomes.count(message, "model_error")
            await reply.fail(failure_sentence(ModelError("empty reply")))
            return Generated(None, answer, kept=len(kept), dropped=drop, failure="empty reply", model=model)
        return Generated(text, answer, stopped, answer.answer_from, list(rounds.turns) if rounds is not None else [],
                         began, len(kept), drop, model=model)

    async def _shown(self, message: IncomingMessage, reply: ReplyWriter, generation: asyncio.Future[Any],
                     stop: asyncio.Event, flag: StopFlag, started: asyncio.Future[bool],
                     starting: asyncio.Future[bool] | None, failure: list[str]) -> bool | None:
        """Whether the answer was stopped, once the reply has started and the model is done;
        None when it ended in a sentence already (the reply could not start, the model failed:
        why, in ``failure``)."""
        shown = await (starting if starting is not None else reply.start())  # while the model is being asked
        started.set_result(shown)
        if not shown:
            log.warning("could not post in %s; the answer is abandoned", message.conversation)
            self.outcomes.count(message, "abandoned")
            failure.append("abandoned")
            return None
        try:
            return await self._until_done_or_stopped(message, reply, generation, stop, flag)
        except ModelError as exc:
            log.warning("model failed for %s: %s", message.conversation, exc.kind)
            self.outcomes.count(message, "model_error")
            await reply.fail(failure_sentence(exc))
            failure.append(exc.kind)
            return None

    def tool_rounds(
        self, context: ToolContext, reply: ReplyWriter, *, room_tokens: int, patterns: Sequence[str] | None = None,
        within: Sequence[str] | None = None, redact: Callable[[str], str] | None = None,
    ) -> ToolRounds | None:
        """The tools this answer may call (``patterns``, else ``DEFAULT_TOOLS``; only those
        ``within`` names too, a channel's own set); None when none (or when the workspace may
        not use tools: TOOLS_WORKSPACES).  A call to any other tool is refused, not run."""
        if self.toolbox is None or not self.tenancy.allows_here(context.team):
            return None
        specs = self.toolbox.select(self.default_tools if patterns is None else patterns)
        if within is not None:
            narrowed = {spec.name for spec in self.toolbox.select(within)}
            specs = [spec for spec in specs if spec.name in narrowed]
        if not specs:
            return None
        return ToolRounds(self.toolbox, specs, context, limits=self.tool_limits, counter=self.counter,
                          approver=self.approver, board=reply if hasattr(reply, "working") else None,  # type: ignore[arg-type]
                          room_tokens=room_tokens, audit=self.audit, redact=redact)

    async def _until_done_or_stopped(
        self, message: IncomingMessage, reply: ReplyWriter, generation: asyncio.Future[Any], stop: asyncio.Event,
        flag: StopFlag,
    ) -> bool:
        """Wait for the answer; True if someone pressed Stop on it (the answer keeps what was written).

        Stop both sets a flag the generation checks between chunks and cancels it:
        a cancel that lands inside a Redis call can be lost (redis-py), the flag cannot."""
        shown = getattr(reply, "messages_shown", None)
        if shown is None or self.stops is None:  # no Stop button where it is written (a command reply, the console)
            await generation
            return False

        def on_stop() -> None:
            stop.set()
            generation.cancel()

        stops = self.stops
        flag.late = lambda: stops.pressed(message.team, message.channel, shown)
        with stops.watch(message.team, message.channel, shown, on_stop):
            if stops.pressed(message.team, message.channel, shown):
                on_stop()  # pressed while the reply was starting (Slack's own Stop may come that early)
            try:
                await generation
            except asyncio.CancelledError:
                if stop.is_set():
                    return True
                raise
        return stop.is_set()
