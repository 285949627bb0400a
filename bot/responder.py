"""Answering one queued job: history, budget, model, reply, memory.

The dispatcher guarantees that one job of a conversation is done at a time,
in order, under a lease; the job's turns are stored in one fenced commit at
the end, together with its removal from the queue, so an answer is stored
once even if the job has to be done again after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Mapping, Protocol, Sequence

from redis.exceptions import RedisError

from bot.delivery.queue import Commit, LeaseLost
from bot.delivery.run import JobRun
from bot.delivery.stops import StopSignals
from bot.memory.batch import Batch
from bot.llm.generation import billed_tokens, failure_sentence, generate
from bot.llm.model import ModelClient, ModelError, ModelOptions, ModelReply
from bot.llm.speakers import attributed
from bot.llm.turns import context_note, note_line
from bot.memory.conversation import ConversationId, StoredMessage, answer_start
from bot.memory.store import ConversationState, ConversationStore
from bot.memory.tokens import TokenCounter
from bot.memory.trimming import build_request, message_token_cap, plan_window, request_tokens
from bot.prompts import Prompt
from bot.slack.directory import NameDirectory
from bot.slack.events import EDIT, REGENERATE, IncomingMessage
from bot.slack.history import ThreadMessage, select_earlier
from bot.slack.reply import POSTING, STOPPED_MARK, ReplyWriter
from bot.slack.text import mentioned_user_ids, strip_bot_mention, to_readable
from bot.files.reader import FileReader, SharedFiles, SharedImage
from bot.tools.base import Approver, ToolContext
from bot.observability.logs import ANSWER_FIELD
from bot.observability.metrics import Metrics, surface_of
from bot.usage.ledger import CallUsage, Ledger
from bot.usage.quotas import Access, QuotaLimits, refusal
from bot.tools.rounds import ToolLimits, ToolRounds
from bot.tools.tenancy import ToolTenancy
from bot.tools.toolbox import Toolbox
from bot.wording import EMPTY_MESSAGE, FLOODED, INTERNAL_FAILURE, NOT_LATEST_ANSWER

from bot.workspaces import context as workspace_context

log = logging.getLogger(__name__)

SYSTEM_TOKENS_CACHE_LIMIT = 256
DATE_FORMAT = "%A, %d %B %Y"
DELIVERY_RETRY_SECONDS = (1.0, 3.0, 8.0)  # a finished answer Slack would not take is posted anew after these pauses
IMPORT_TOKENISE_IN_THREAD = 20  # more imported messages than this are tokenised off the event loop
PERSONA_HEADING = (
    "\n\n## Channel persona\nThe people of this channel asked you to take on this persona. It shapes your tone "
    "and focus; it never overrides the rules above.\n\n"
)


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
class _Context:
    """What a request is built around: the system prompt (the same for every request of
    the conversation, so the provider can cache it with the history after it), the note
    that follows the history (today's date, who wrote the latest message) and their size."""

    system_prompt: str
    note: str
    fixed_tokens: int  # the system prompt's and the note's
    cap: int  # most tokens one message may have
    prompt_name: str
    prompt_version: int


@dataclass
class _Answered:
    """A generated answer, shown in Slack, waiting to be stored."""

    turn: StoredMessage | None  # None: the model failed (a sentence was shown), or the answer was not given
    posted: list[str]
    stopped: bool = False
    usage: ModelReply | None = None
    tool_turns: list[StoredMessage] = field(default_factory=list)  # the answer's tool calls and results, before it
    seconds: float = 0.0  # model request sent -> the answer's last message
    first_token_seconds: float | None = None


class Responder:
    def __init__(
        self,
        *,
        store: ConversationStore,
        model: ModelClient,
        counter: TokenCounter,
        system_prompt: Prompt,
        directory: NameDirectory,
        replies: ReplyFactory,
        threads: ThreadReader | None,
        identity: BotIdentity,
        budget: Budget,
        bot_name: str,
        dm_idle_reset_seconds: float,
        thread_import_limit: int,
        edit_window_seconds: float = 300.0,
        notes: PrivateNotes | None = None,
        stops: StopSignals | None = None,
        cache_key: Callable[[ConversationId], str | None] = lambda cid: None,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        toolbox: Toolbox | None = None,
        default_tools: Sequence[str] = (),
        tool_limits: ToolLimits = ToolLimits(),
        approver: Approver | None = None,
        files: FileReader | None = None,
        ledger: Ledger | None = None,
        quotas: QuotaLimits = QuotaLimits(),
        access: Access = Access(),
        metrics: Metrics | None = None,
        tenancy: ToolTenancy = ToolTenancy(),
    ) -> None:
        self.tenancy = tenancy
        self.metrics = metrics
        self.ledger = ledger
        self.quotas = quotas
        self.access = access
        self.files = files
        self.toolbox = toolbox
        self.default_tools = tuple(default_tools)
        self.tool_limits = tool_limits
        self.approver = approver
        self.stops = stops
        self.cache_key = cache_key
        self.store = store
        self.model = model
        self.counter = counter
        self.system_prompt = system_prompt
        self.directory = directory
        self.replies = replies
        self.threads = threads
        self.identity = identity
        self.budget = budget
        self.bot_name = bot_name
        self.dm_idle_reset_seconds = dm_idle_reset_seconds
        self.thread_import_limit = thread_import_limit
        self.edit_window_seconds = edit_window_seconds
        self.notes = notes
        self.now = now
        self._system_tokens: dict[str, int] = {}

    # ------------------------------------------------------------------
    async def apologise(self, message: IncomingMessage, sentence: str) -> None:
        """Say why a message cannot be answered, without touching the store."""
        await self.replies(message).fail(sentence)

    async def note_privately(self, message: IncomingMessage, text: str) -> None:
        """A note only the message's author sees."""
        if self.notes is not None:
            await self.notes.note(message, text)

    def system_prompt_for(self, variables: Mapping[str, str], persona: str | None) -> str:
        """The operator's system prompt, with the channel's persona added after its rules (never replacing them)."""
        return with_persona(self.system_prompt.render(dict(variables)), persona)

    def count_system(self, system_prompt: str) -> int:
        """Tokens of a system prompt (cached: it rarely changes between requests)."""
        tokens = self._system_tokens.get(system_prompt)
        if tokens is None:
            if len(self._system_tokens) >= SYSTEM_TOKENS_CACHE_LIMIT:
                self._system_tokens.clear()
            tokens = self._system_tokens[system_prompt] = self.counter.count_message(system_prompt)
        return tokens

    async def common_variables(self, team: str, channel: str, user: str, direct: bool) -> dict[str, str]:
        """The variables every prompt may use."""
        channel_name = "a direct message" if direct else await self.directory.channel_name(team, channel)
        return {
            "bot_name": workspace_context.bot_name(self.bot_name),
            "date": self.now().strftime(DATE_FORMAT),
            "user_name": await self.directory.user_name(team, user),
            "channel": channel_name,
        }

    # ------------------------------------------------------------------
    async def handle(self, job: IncomingMessage, run: JobRun) -> None:
        """Do one queued job: answer a message, answer an edited one again, or regenerate.

        Failures end in one plain sentence where the user is waiting for an answer.
        A store error before anything is shown is raised (the dispatcher retries the
        job once Redis answers); cancellation (shutdown, lost lease) writes nothing:
        whoever does the job next replaces what this attempt showed."""
        if self.metrics is not None:
            self.metrics.in_flight.inc()
        try:
            refused = self.access.refusal(job.user, job.channel, job.is_direct)
            if refused is not None:
                log.info("%s from %s in %s not answered: outside the allowlists", job.kind, job.user, job.channel)
                self._count(job, "not_allowed")
                if job.kind != EDIT:
                    await self.note_privately(job, refused)
                return
            if job.kind == EDIT:
                await self._edit(job, run)
            elif job.kind == REGENERATE:
                await self._regenerate(job, run)
            else:
                await self._answer(job, run)
        except (asyncio.CancelledError, LeaseLost, RedisError):
            raise
        except Exception:
            log.exception("%s in %s failed", job.kind, job.conversation)
            self._count(job, "failed")
            if job.kind != EDIT:
                await self.replies(job, replace=_posted(run)).fail(INTERNAL_FAILURE)
        finally:
            if self.metrics is not None:
                self.metrics.in_flight.dec()

    def _count(self, message: IncomingMessage, outcome: str, **fields: Any) -> None:
        """Count the outcome, and log the answer's one structured line (its text never)."""
        surface = surface_of(message)
        if self.metrics is not None:
            self.metrics.answered(surface, outcome)
        figures = ""
        if "input_tokens" in fields:
            cost = fields.get("cost_usd")
            figures = (f" in {fields['latency_ms'] / 1000:.2f}s, {fields['input_tokens']:,} tokens in "
                       f"({fields['cached_tokens']:,} cached), {fields['output_tokens']:,} out"
                       + (f", ${cost:.5f}" if cost is not None else ", unpriced"))
        log.info("%s %s in %s: %s%s", message.kind, message.job_id, message.conversation, outcome, figures,
                 extra={ANSWER_FIELD: {
            "conversation": str(message.conversation), "job": message.job_id, "kind": message.kind, "surface": surface,
            "user": message.user, "outcome": outcome, **fields}})

    async def _context(self, message: IncomingMessage, state: ConversationState) -> _Context:
        variables = await self.common_variables(message.team, message.channel, message.user, message.is_direct)
        viewing = await self._viewed_channel(message, state)
        if viewing:
            variables["channel"] = f"a direct message (they are looking at {viewing})"
        system_prompt = self.system_prompt_for(variables, state.persona)
        note = context_note(variables["date"], variables["user_name"])
        fixed = self.count_system(system_prompt) + self.counter.count_text(note_line(note))
        return _Context(
            system_prompt,
            note,
            fixed,
            message_token_cap(self.budget.max_context_tokens, fixed),
            self.system_prompt.name + ("+persona" if state.persona else ""),
            self.system_prompt.header.version,
        )

    async def _viewed_channel(self, message: IncomingMessage, state: ConversationState) -> str | None:
        """The channel an assistant thread's user is looking at (Slack's thread context), by name."""
        if not (message.is_direct and message.thread_ts):
            return None
        channel = (state.thread_context or {}).get("channel_id")
        return await self.directory.channel_name(message.team, channel) if channel else None

    async def _state(self, run: JobRun) -> ConversationState:
        """The conversation as it was when the job was taken (read in the same step), else read now."""
        return run.job.state if run.job.state is not None else await self.store.load(run.message.conversation)

    async def _answer(self, message: IncomingMessage, run: JobRun) -> None:
        question = strip_bot_mention(message.text, self.identity.user_id)
        if not question and not message.files:
            await self.replies(message, replace=_posted(run)).fail(EMPTY_MESSAGE)
            return
        state = await self._state(run)
        history = state.messages
        forget = 0
        if self._dm_went_idle(message, state.last_active) and history:
            history, forget = [], len(history)
        context = await self._context(message, state)
        reply = self.replies(message, replace=await self._earlier_attempt(message, run), on_shown=run.shown,
                             may_write=run.may_write)
        if not await self._admit(message, run, reply):  # before anything is read from Slack or downloaded
            await run.commit(Commit())
            return
        starting = asyncio.ensure_future(reply.start())  # the thinking status while the thread and files are read
        try:
            imported: list[StoredMessage] = []
            if message.thread_ts and not state.imported:
                imported = await self._import_thread(message, context.cap)
            shared = await self._read_files(message)
        except BaseException:
            await _settle(starting)
            raise
        turn = await self._question_turn(message, shared.turn_text(question) if shared else question, context.cap)
        if shared is not None and shared.images:  # sent with this request only: its cost counts once
            context = dataclasses.replace(context, fixed_tokens=context.fixed_tokens + shared.image_tokens)
        window = [*history, *imported, turn]
        drop = plan_window(window, context.fixed_tokens, self.budget.max_context_tokens, self.budget.trim_target_ratio)
        answered = await self._generate(message, run, reply, context, window[drop:], drop,
                                        images=shared.images if shared is not None else (), starting=starting)
        new = [*imported, turn] + ([*answered.tool_turns, answered.turn] if answered.turn is not None else [])
        batch = Batch()
        await run.commit(Commit(new=new, drop_oldest=forget + drop, imported=True,
                                answer=self._record(message, context, window[drop:], answered, batch)), batch)

    async def _read_files(self, message: IncomingMessage, *, tell: bool = True) -> SharedFiles | None:
        """The message's files as text and images; the sender is told privately what could not be read."""
        if not message.files or self.files is None:
            return None
        shared = await self.files.read(message.files, channel=message.channel, only_asker=message.is_direct)
        if shared.problems and tell:
            await self.note_privately(message, "\n".join(shared.problems) + ".")
        return shared

    async def _regenerate(self, job: IncomingMessage, run: JobRun) -> None:
        """Answer the latest turn again, in place of the latest answer (``job.ts``)."""
        cid = job.conversation
        state = await self._state(run)
        history = state.messages
        start = answer_start(history)
        if not history or history[-1].role != "assistant" or history[-1].ts != job.ts or start == 0:
            log.info("not regenerating in %s: %s is no longer the latest answer", cid, job.ts)
            await self.note_privately(job, NOT_LATEST_ANSWER)
            return
        await self._answer_again(job, run, state, history[:start], replacement=None)

    async def _edit(self, job: IncomingMessage, run: JobRun) -> None:
        """A user edited a message: answer it again if it is the one just answered
        (within the edit window); otherwise only correct the stored history."""
        cid = job.conversation
        state = await self._state(run)
        history = state.messages
        position = next((n for n in range(len(history) - 1, -1, -1) if history[n].ts == job.ts and history[n].role == "user"), None)
        if position is None:
            log.debug("edit of a message not in %s's history", cid)
            return
        question = strip_bot_mention(job.text, self.identity.user_id)
        if not question and not job.files:
            return
        context = await self._context(job, state)
        shared = await self._read_files(job, tell=False)  # an edit keeps the files: read again, told once already
        turn = await self._question_turn(job, shared.turn_text(question) if shared else question, context.cap)
        after = history[position + 1 :]
        just_answered = all(m.role != "user" for m in after)  # at most its answer (and the answer's tool rounds)
        if not just_answered or not self._within_edit_window(job):
            await run.commit(Commit(replace_at=position - len(history), replacement=turn))
            log.info("edit in %s: stored history updated", cid)
            return
        await self._answer_again(job, run, state, [*history[:position], turn], replacement=turn, context=context)

    async def _answer_again(
        self,
        job: IncomingMessage,
        run: JobRun,
        state: ConversationState,
        window: list[StoredMessage],
        *,
        replacement: StoredMessage | None,
        context: _Context | None = None,
    ) -> None:
        """Generate a new answer for the last user turn of ``window``, replacing
        the stored answer after it and its messages in Slack."""
        previous = state.messages[-1] if state.messages and state.messages[-1].role == "assistant" else None
        answer_turns = len(state.messages) - answer_start(state.messages) if previous is not None else 0
        parts: list[str] = []
        if previous is not None and previous.ts:
            record = state.last_answer if (state.last_answer or {}).get("ts") == previous.ts else None
            parts = [str(ts) for ts in (record or {}).get("parts") or [previous.ts]]
        context = context or await self._context(job, state)
        drop = plan_window(window, context.fixed_tokens, self.budget.max_context_tokens, self.budget.trim_target_ratio)
        replace = list(dict.fromkeys([*await self._earlier_attempt(job, run), *parts]))
        reply = self.replies(job, replace=replace, on_shown=run.shown, may_write=run.may_write)
        if not await self._admit(job, run, reply):
            await run.commit(Commit())
            return
        answered = await self._generate(job, run, reply, context, window[drop:], drop)
        batch = Batch()
        await run.commit(Commit(
            new=[*answered.tool_turns, answered.turn] if answered.turn is not None else [],
            drop_oldest=drop,
            remove_last=answer_turns,
            replace_at=-1 if replacement is not None else None,
            replacement=replacement,
            answer=self._record(job, context, window[drop:], answered, batch),
        ), batch)

    async def _earlier_attempt(self, message: IncomingMessage, run: JobRun) -> list[str]:
        """Messages an earlier attempt at this job left in Slack, to be replaced.  If it
        died between posting and noting a message, the thread is asked for our messages."""
        partials = _posted(run)
        if POSTING in run.partials and self.threads is not None:
            found = await self.threads.own_messages_since(
                message.channel, message.reply_thread_ts, message.ts, self.identity.bot_id)
            partials += [ts for ts in found if ts not in partials]
        return partials

    async def _question_turn(self, message: IncomingMessage, question: str, cap: int) -> StoredMessage:
        names = await self.directory.user_names(message.team, [message.user, *mentioned_user_ids(question)])
        return self._user_turn(message, to_readable(question, names), names.get(message.user, message.user), cap)

    def _within_edit_window(self, job: IncomingMessage) -> bool:
        try:
            return float(job.event_ts or 0) - float(job.ts) <= self.edit_window_seconds
        except ValueError:
            return False

    async def _admit(self, message: IncomingMessage, run: JobRun, reply: ReplyWriter) -> bool:
        """Whether the job may cost a model request: one Redis round trip for its admission
        (flood limit, quotas, the "may post" mark) and the reply's budget steps, before any
        file is downloaded or the model asked.  A refused job's sender is told privately."""
        batch = Batch()
        flood_verdict = run.admission_in(batch)
        spent = self.ledger.spent_in(batch, message.team, message.channel, message.user, self.now()) \
            if self.ledger is not None and self.quotas.any else None
        prepare = getattr(reply, "prepare", None)
        if prepare is not None:
            prepare(batch)
        await batch.run(self.store.redis)
        verdict = flood_verdict()
        if verdict is not None and verdict.over:
            log.info("flood limit: not answering %s from %s", message.job_id, message.user)
            if verdict.first_over:
                await self.note_privately(message, FLOODED)
            await _release(reply)
            self._count(message, "flooded")
            return False
        over = refusal(spent(), self.quotas, message.user, self.now()) if spent is not None else None
        if over is not None:
            log.info("quota %s: not answering %s from %s", over.limit, message.job_id, message.user)
            self._count(message, "over_quota")
            if self.metrics is not None:
                self.metrics.quota_refusals.labels(over.limit).inc()
            await self.note_privately(message, over.sentence)
            await _release(reply)
            return False
        return True

    async def _generate(
        self, message: IncomingMessage, run: JobRun, reply: ReplyWriter, context: _Context, kept: list[StoredMessage],
        drop: int, images: Sequence[SharedImage] = (), starting: asyncio.Future[bool] | None = None,
    ) -> _Answered:
        """Stream the answer to ``kept`` into ``reply`` (admitted already).  A model failure is told in one sentence.

        The model request goes out and, beside it, the thinking status or placeholder
        (``starting``: already on its way while files were read); text is shown only once
        the reply has started, and an answer Slack will not show is abandoned."""
        cid = message.conversation
        request = with_images(build_request(context.system_prompt, kept, context.note), images)
        answer = ModelReply()
        stop = asyncio.Event()
        flag = _StopFlag(stop)
        started = asyncio.get_running_loop().create_future()
        options = ModelOptions(cache_key=self.cache_key(cid))
        tools = self.tool_rounds(
            ToolContext(message.team, message.channel, message.user, message.reply_thread_ts, message.action_token,
                        only_asker=message.is_direct),
            reply, room_tokens=self.budget.max_context_tokens - request_tokens(kept, context.fixed_tokens))
        generation = asyncio.ensure_future(
            generate(self.model, request, reply, options=options, answer=answer, stop=flag, started=started, tools=tools,
                     request_tokens=request_tokens(kept, context.fixed_tokens)))
        began = time.perf_counter()
        try:
            shown = await (starting if starting is not None else reply.start())  # while the model is being asked
            started.set_result(shown)
            if not shown:
                log.warning("could not post in %s; the answer is abandoned", cid)
                self._count(message, "abandoned")
                return _Answered(None, [], usage=answer)
            try:
                stopped = await self._until_done_or_stopped(message, reply, generation, stop, flag)
            except ModelError as exc:
                log.warning("model failed for %s: %s", cid, exc.kind)
                self._count(message, "model_error")
                await reply.fail(failure_sentence(exc))
                return _Answered(None, [], usage=answer)
        finally:
            if not generation.done():
                generation.cancel()
                await asyncio.wait({generation})
            if not started.done():
                started.set_result(False)
        text = answer.text.rstrip() if stopped else answer.text
        if stopped and not text:
            self._count(message, "stopped")
            await reply.fail("_(stopped)_")
            return _Answered(None, [], usage=answer)
        if not text.strip():  # tools were called to the last round and no text followed
            self._count(message, "model_error")
            await reply.fail(failure_sentence(ModelError("empty reply")))
            return _Answered(None, [], usage=answer)
        final = text + STOPPED_MARK if stopped else text
        posted = await reply.finish(final)
        for delay in DELIVERY_RETRY_SECONDS:  # Slack still failing after the SDK's retries: post anew a little later
            if posted:
                break
            log.warning("could not deliver the answer in %s; trying again in %.0fs", cid, delay)
            await asyncio.sleep(delay)
            posted = await reply.finish(final)
        seconds = time.perf_counter() - began
        first_token = max(0.0, answer.first_token_at - began) if answer.first_token_at is not None else None
        if self.metrics is not None:
            self.metrics.answer_time.observe(seconds)
            if first_token is not None:
                self.metrics.first_token.observe(first_token)
        log.debug(
            "answered %s in %.2fs%s: prompt %d tokens (%d cached), completion %d tokens, %d turns kept, %d dropped",
            cid, time.perf_counter() - began, " (stopped)" if stopped else "", answer.usage.prompt_tokens,
            answer.usage.cached_tokens, answer.usage.completion_tokens, len(kept), drop,
        )
        own = text[answer.answer_from:]  # the text before a tool round is stored with that round
        turn = StoredMessage(
            role="assistant",
            content=own,  # a stopped answer: only what was written
            tokens=self.counter.count_message(own),
            ts=posted[0] if posted else "",
            user=self.identity.user_id,
        )
        return _Answered(turn, posted, stopped, answer, tool_turns=list(tools.turns) if tools is not None else [],
                         seconds=seconds, first_token_seconds=first_token)

    def tool_rounds(
        self, context: ToolContext, reply: ReplyWriter, *, room_tokens: int, patterns: Sequence[str] | None = None
    ) -> ToolRounds | None:
        """The tools this answer may call (``patterns``, else ``DEFAULT_TOOLS``); None when none
        (or when the workspace may not use tools: TOOLS_WORKSPACES)."""
        if self.toolbox is None or not self.tenancy.allows_here(context.team):
            return None
        specs = self.toolbox.select(self.default_tools if patterns is None else patterns)
        if not specs:
            return None
        return ToolRounds(self.toolbox, specs, context, limits=self.tool_limits, counter=self.counter,
                          approver=self.approver, board=reply if hasattr(reply, "working") else None,  # type: ignore[arg-type]
                          room_tokens=room_tokens)

    def _record(
        self, message: IncomingMessage, context: _Context, kept: list[StoredMessage], answered: _Answered, batch: Batch
    ) -> dict[str, Any] | None:
        """The answer's record (for its buttons), stored with its turns, and its usage, added
        to ``batch`` (written in the commit's round trip).  Every request is paid for: a
        failed, stopped or abandoned answer's requests too (its outcome was counted where it ended)."""
        if answered.usage is None:
            return None
        context_tokens = request_tokens(kept, context.fixed_tokens)
        prompt_tokens, completion_tokens = billed_tokens(answered.usage, self.counter)
        if not prompt_tokens and not completion_tokens:
            return None  # no request reached the model (it was unavailable)
        usage = CallUsage(self.model.model, context.prompt_name, prompt_tokens,
                          answered.usage.usage.cached_tokens, completion_tokens)
        cost = self.ledger.record_in(batch, message.team, message.channel, message.user, usage, self.now()) \
            if self.ledger is not None else None
        if self.metrics is not None:
            self.metrics.model_call(usage.model, input_tokens=usage.input_tokens, cached_tokens=usage.cached_tokens,
                                    output_tokens=usage.output_tokens, cost=cost)
        if answered.turn is None:
            return None
        self._count(message, "stopped" if answered.stopped else "answered" if answered.posted else "undelivered",
                    prompt=context.prompt_name, prompt_version=context.prompt_version, model=usage.model,
                    input_tokens=usage.input_tokens, cached_tokens=usage.cached_tokens, output_tokens=usage.output_tokens,
                    cost_usd=cost, latency_ms=round(answered.seconds * 1000),
                    first_token_ms=round(answered.first_token_seconds * 1000)
                    if answered.first_token_seconds is not None else None,
                    tool_rounds=sum(1 for turn in answered.tool_turns if turn.tool_calls))
        if not answered.posted:
            return None
        return {
            "ts": answered.posted[0],
            "parts": answered.posted,
            "asker": message.user,
            "channel_type": message.channel_type,
            "prompt": context.prompt_name,
            "prompt_version": context.prompt_version,
            "model": self.model.model,
            "context_tokens": context_tokens,
            "stopped": answered.stopped,
            "generation": message.kind,
        }

    async def _until_done_or_stopped(
        self, message: IncomingMessage, reply: ReplyWriter, generation: asyncio.Future[Any], stop: asyncio.Event,
        flag: "_StopFlag",
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

    # ------------------------------------------------------------------
    def _dm_went_idle(self, message: IncomingMessage, last_active: float) -> bool:
        top_level_dm = message.conversation.thread == ConversationId.TOP_LEVEL_DM
        return top_level_dm and last_active > 0 and time.time() - last_active > self.dm_idle_reset_seconds

    def _user_turn(self, message: IncomingMessage, text: str, speaker: str, cap: int) -> StoredMessage:
        content = text if message.is_direct else attributed(speaker, message.user, text)
        return self._stored("user", self.counter.shorten(content, cap), message.ts, message.user)

    def _stored(self, role: str, content: str, ts: str, user: str) -> StoredMessage:
        return StoredMessage(role=role, content=content, tokens=self.counter.count_message(content), ts=ts, user=user)  # type: ignore[arg-type]

    async def _import_thread(self, message: IncomingMessage, cap: int) -> list[StoredMessage]:
        if self.threads is None or message.thread_ts is None:
            return []
        raw = await self.threads.earlier_in_thread(message.channel, message.thread_ts, message.ts, self.thread_import_limit)
        earlier = select_earlier(raw, message.ts, self.identity.user_id, self.identity.bot_id, self.thread_import_limit)
        if not earlier:
            return []
        speakers = [m.user for m in earlier if m.user and not m.from_this_bot]
        mentioned = [uid for m in earlier for uid in mentioned_user_ids(m.text)]
        names = await self.directory.user_names(message.team, [*speakers, *mentioned])
        if len(earlier) <= IMPORT_TOKENISE_IN_THREAD:
            return [self._imported_turn(m, names, cap, message.is_direct) for m in earlier]
        # Counting tokens of hundreds of messages takes tens of milliseconds: not on the event loop.
        return await asyncio.to_thread(lambda: [self._imported_turn(m, names, cap, message.is_direct) for m in earlier])

    def _imported_turn(self, m: ThreadMessage, names: dict[str, str], cap: int, direct: bool) -> StoredMessage:
        text = to_readable(strip_bot_mention(m.text, self.identity.user_id), names)
        if m.from_this_bot:
            return self._stored("assistant", self.counter.shorten(text, cap), m.ts, self.identity.user_id)
        speaker = names.get(m.user, m.user) if m.user else m.bot_name
        content = text if direct and m.user else attributed(speaker, m.user or "", text)
        return self._stored("user", self.counter.shorten(content, cap), m.ts, m.user)


class _StopFlag:
    """Set by a Stop press: at once when the press names a message the answer knows, or
    at the next chunk when the press came before the answer knew its message."""

    def __init__(self, event: asyncio.Event) -> None:
        self.event = event
        self.late: Callable[[], bool] = lambda: False

    def is_set(self) -> bool:
        if not self.event.is_set() and self.late():
            self.event.set()
        return self.event.is_set()




def with_persona(system_prompt: str, persona: str | None) -> str:
    """The operator's system prompt with a channel's persona after its rules (never replacing them)."""
    return system_prompt + PERSONA_HEADING + persona.strip() if persona and persona.strip() else system_prompt


def with_images(request: list[dict[str, Any]], images: Sequence[SharedImage]) -> list[dict[str, Any]]:
    """The request with the latest user turn's images as image input (they are not stored:
    later requests see the "[image: name]" marker in the turn's text)."""
    if not images:
        return request
    at = max(n for n, m in enumerate(request) if m["role"] == "user")
    parts: list[dict[str, Any]] = [{"type": "text", "text": request[at]["content"]}]
    parts += [{"type": "image_url", "image_url": {"url": image.data_url, "detail": "auto"}} for image in images]
    return [*request[:at], {**request[at], "content": parts}, *request[at + 1:]]


async def _settle(starting: asyncio.Future[bool]) -> None:
    """A reply start that will not be used: wait for it (its message is replaced by whoever does the job)."""
    if not starting.done():
        starting.cancel()
    with contextlib.suppress(BaseException):
        await starting


async def _release(reply: ReplyWriter) -> None:
    """A reply that will not start gives back its place in the workspace's budget."""
    release = getattr(reply, "release", None)
    if release is not None:
        await release()


def _posted(run: JobRun) -> list[str]:
    """The messages an earlier attempt at this job is known to have posted."""
    return [ts for ts in run.partials if ts != POSTING]
