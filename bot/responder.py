"""Answering one queued job: a new message, an edited one, or Regenerate, each as the
same sequence of stages (bot/answer/): prepare → admit → gather (redact, and moderate the
message) → generate → moderate the answer → deliver → record, the job's turns stored in one fenced commit at the end.

The dispatcher guarantees that one job of a conversation is done at a time,
in order, under a lease; the commit also removes the job from the queue, so an answer
is stored once even if the job has to be done again after a crash.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from redis.exceptions import RedisError

from bot.answer.admit import Admit
from bot.answer.deliver import Deliver
from bot.answer.gather import Gather
from bot.answer.generate import Generate
from bot.answer.outcomes import Outcomes
from bot.answer.parts import BotIdentity, Budget, Context, PrivateNotes, ReplyFactory, ThreadReader, release
from bot.answer.prepare import Prepare, with_persona
from bot.answer.record import Record
from bot.channels.config import ConfigPolicy
from bot.delivery.queue import Commit, LeaseLost
from bot.delivery.run import JobRun
from bot.delivery.stops import StopSignals
from bot.files.reader import FileReader
from bot.answer.moderate import Moderate
from bot.answer.redact import Redact
from bot.answer.remember import Remember, summary_room
from bot.answer.retrieve import Retrieve
from bot.guardrails.parts import Guardrails
from bot.guardrails.redaction import Redaction
from bot.llm.model import ModelClient
from bot.memory.conversation import ConversationId, StoredMessage, answer_start
from bot.memory.store import ConversationState, ConversationStore
from bot.observability.metrics import Metrics
from bot.prompts import Prompt
from bot.slack.directory import NameDirectory
from bot.slack.events import EDIT, REGENERATE, IncomingMessage
from bot.slack.answer_messages import POSTING
from bot.slack.text import strip_bot_mention
from bot.tokens import TokenCounter
from bot.tools.base import Approver
from bot.tools.rounds import ToolLimits
from bot.tools.tenancy import ToolTenancy
from bot.tools.toolbox import Toolbox
from bot.usage.ledger import Ledger
from bot.usage.quotas import Access, QuotaLimits
from bot.wording import EMPTY_MESSAGE, INTERNAL_FAILURE, NOT_LATEST_ANSWER

log = logging.getLogger(__name__)

__all__ = ["BotIdentity", "Budget", "PrivateNotes", "ReplyFactory", "Responder", "ThreadReader", "with_persona"]


class Responder:
    """Runs the stages of an answer for each job (one factory, given every part the stages need)."""

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
        policy: ConfigPolicy | None = None, audit: Any = None,
        guards: Guardrails = Guardrails(),
        summary_tokens: int = 0, summary_model: str | None = None,  # memory past the window (bot/answer/remember.py)
        knowledge: Any = None,  # team knowledge (bot/knowledge/search.py; None: KNOWLEDGE=false)
    ) -> None:
        self.store, self.replies, self.threads, self.identity = store, replies, threads, identity
        self.directory, self.budget, self.notes, self.now = directory, budget, notes, now
        self.ledger, self.quotas, self.access, self.metrics = ledger, quotas, access, metrics
        self.dm_idle_reset_seconds, self.edit_window_seconds = dm_idle_reset_seconds, edit_window_seconds
        self.outcomes = Outcomes(metrics)
        self.admit = Admit(store=store, ledger=ledger, quotas=quotas, now=now, note=self.note_privately,
                           outcomes=self.outcomes, metrics=metrics)
        self.redact = Redact(redactor=guards.redactor, counter=counter, keys=store.keys, audit=audit)
        self.moderate = Moderate(moderator=guards.moderator, note=self.note_privately)
        self.gather = Gather(counter=counter, directory=directory, threads=threads, identity=identity,
                             thread_import_limit=thread_import_limit, files=files, note=self.note_privately,
                             redact=self.redact, moderate=self.moderate)
        self.prepare = Prepare(counter=counter, system_prompt=system_prompt, directory=directory, budget=budget,
                               bot_name=bot_name, now=now, policy=policy, promoted=guards.promoted,
                               summary_room=summary_room(summary_tokens, budget.max_context_tokens))
        self.retrieve = Retrieve(knowledge=knowledge, counter=counter, budget=budget, ledger=ledger, now=now, metrics=metrics)
        self.remember = Remember(model=model, counter=counter, budget=budget, max_tokens=summary_tokens, keys=store.keys,
                                 summary_model=summary_model, ledger=ledger, now=now)
        self.generate = Generate(model=model, counter=counter, budget=budget, outcomes=self.outcomes,
                                 cache_key=cache_key, stops=stops, toolbox=toolbox, default_tools=default_tools,
                                 tool_limits=tool_limits, approver=approver, tenancy=tenancy, audit=audit,
                                 promoted=guards.promoted)
        self.deliver = Deliver(counter=counter, identity=identity, metrics=metrics)
        self.record = Record(model=model, counter=counter, ledger=ledger, metrics=metrics, outcomes=self.outcomes, now=now,
                             quality=guards.quality, online=guards.online)

    async def apologise(self, message: IncomingMessage, sentence: str) -> None:  # without touching the store
        await self.replies(message).fail(sentence)

    async def note_privately(self, message: IncomingMessage, text: str) -> None:
        """A note only the message's author sees."""
        if self.notes is not None:
            await self.notes.note(message, text)

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
                self.outcomes.count(job, "not_allowed")
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
            self.outcomes.count(job, "failed")
            if job.kind != EDIT:
                await self.replies(job, replace=_posted(run)).fail(INTERNAL_FAILURE)
        finally:
            if self.metrics is not None:
                self.metrics.in_flight.dec()

    async def _answer(self, message: IncomingMessage, run: JobRun) -> None:
        question = strip_bot_mention(message.text, self.identity.user_id)
        state = await state_of(run, self.store)
        if not followed(message, state):
            await self._keep_unanswered(message, run, state, question)
            return
        if not question and not message.files:
            await self.replies(message, replace=_posted(run)).fail(EMPTY_MESSAGE)
            return
        history = state.messages
        forget = 0
        if dm_went_idle(message, state.last_active, self.dm_idle_reset_seconds) and history:
            history, forget = [], len(history)
        context, guard = await self.prepare(message, state), self.redact.guard(state)
        earlier = await earlier_attempt(message, run, self.threads, self.identity.bot_id)
        reply = self.moderate.shown_as(self.redact.shown_as(self.replies(
            message, replace=earlier, on_shown=run.shown, may_write=run.may_write), guard))
        # before anything is read from Slack or downloaded
        if not await self.admit(message, reply, run.admission_in, quotas=state.channel.quotas(self.quotas)):
            await run.commit(Commit())
            return
        gathered = await self.gather.asked(message, state, context, question, reply, guard)
        if gathered is None:  # flagged by moderation: the asker was told, nothing was shown
            await release(reply)
            await run.commit(Commit())
            return
        imported, turn, shared, starting = gathered
        if shared is not None and shared.images:  # sent with this request only: its cost counts once
            context = dataclasses.replace(context, fixed_tokens=context.fixed_tokens + shared.image_tokens)
        window = [*history, *imported, turn]
        context = await self.retrieve(message, context, turn)  # team knowledge for this question, if any
        context, drop = await self.remember(message, context, window)  # a summary of what is dropped, if any
        generated = await self.generate(message, reply, context, window[drop:], drop, images=shared.images
                                        if shared is not None else (), starting=starting, redact=guard and guard.text)
        answered = await self._shown(message, reply, context, generated)
        new = [*imported, turn] + ([*answered.tool_turns, answered.turn] if answered.turn is not None else [])
        batch = self._batch(message, guard, context)
        await run.commit(Commit(new=new, drop_oldest=forget + drop, imported=True,
                                answer=self.record(message, context, window[drop:], answered, batch)), batch)

    async def _keep_unanswered(self, message: IncomingMessage, run: JobRun, state: ConversationState, question: str) -> None:
        """A thread message not for the bot (``auto_reply`` off): kept in the conversation, so
        the next mention knows what was said, and not answered."""
        log.info("not answering %s in %s: the channel's auto_reply is off", message.job_id, message.conversation)
        self.outcomes.count(message, "not_followed")
        if not question:
            await run.commit(Commit())
            return
        context, guard = await self.prepare(message, state), self.redact.guard(state)
        turn = self.redact.turns(guard, [await self.gather.question_turn(message, question, context.cap)])[0]
        await run.commit(Commit(new=[turn]), self.redact.batch(message, guard))

    async def _regenerate(self, job: IncomingMessage, run: JobRun) -> None:
        """Answer the latest turn again, in place of the latest answer (``job.ts``)."""
        cid = job.conversation
        state = await state_of(run, self.store)
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
        state = await state_of(run, self.store)
        history = state.messages
        position = next((n for n in range(len(history) - 1, -1, -1) if history[n].ts == job.ts and history[n].role == "user"), None)
        if position is None:
            log.debug("edit of a message not in %s's history", cid)
            return
        question = strip_bot_mention(job.text, self.identity.user_id)
        if not question and not job.files:
            return
        context = await self.prepare(job, state)
        shared = await self.gather.files_of(job, tell=False)  # an edit keeps the files: read again, told once already
        guard = self.redact.guard(state)
        turn = await self.gather.question_turn(job, shared.turn_text(question) if shared else question, context.cap)
        turn = self.redact.turns(guard, [turn])[0]
        after = history[position + 1 :]
        just_answered = all(m.role != "user" for m in after)  # at most its answer (and the answer's tool rounds)
        if not just_answered or not within_edit_window(job, self.edit_window_seconds):
            await run.commit(Commit(replace_at=position - len(history), replacement=turn), self.redact.batch(job, guard))
            log.info("edit in %s: stored history updated", cid)
            return
        await self._answer_again(job, run, state, [*history[:position], turn], replacement=turn, context=context,
                                 guard=guard)

    async def _answer_again(
        self,
        job: IncomingMessage,
        run: JobRun,
        state: ConversationState,
        window: list[StoredMessage],
        *,
        replacement: StoredMessage | None,
        context: Context | None = None,
        guard: Redaction | None = None,
    ) -> None:
        """Generate a new answer for the last user turn of ``window``, replacing
        the stored answer after it and its messages in Slack."""
        previous = state.messages[-1] if state.messages and state.messages[-1].role == "assistant" else None
        answer_turns = len(state.messages) - answer_start(state.messages) if previous is not None else 0
        parts: list[str] = []
        if previous is not None and previous.ts:
            record = state.last_answer if (state.last_answer or {}).get("ts") == previous.ts else None
            parts = [str(ts) for ts in (record or {}).get("parts") or [previous.ts]]
        context = context or await self.prepare(job, state)
        replace = list(dict.fromkeys([*await earlier_attempt(job, run, self.threads, self.identity.bot_id), *parts]))
        guard = guard or self.redact.guard(state)
        reply = self.moderate.shown_as(self.redact.shown_as(
            self.replies(job, replace=replace, on_shown=run.shown, may_write=run.may_write), guard))
        if not await self.admit(job, reply, run.admission_in, quotas=state.channel.quotas(self.quotas)):
            await run.commit(Commit())
            return
        context = await self.retrieve(job, context, window[-1])
        context, drop = await self.remember(job, context, window)
        generated = await self.generate(job, reply, context, window[drop:], drop, redact=guard and guard.text)
        answered = await self._shown(job, reply, context, generated)
        batch = self._batch(job, guard, context)
        await run.commit(Commit(
            new=[*answered.tool_turns, answered.turn] if answered.turn is not None else [],
            drop_oldest=drop,
            remove_last=answer_turns,
            replace_at=-1 if replacement is not None else None,
            replacement=replacement,
            answer=self.record(job, context, window[drop:], answered, batch),
        ), batch)

    async def _shown(self, message: IncomingMessage, reply: Any, context: Context, generated: Any) -> Any:
        # the answer checked by output moderation, with its sources line, delivered
        return await self.deliver(message, reply, self.retrieve.cite(context, await self.moderate.output(
            message, reply, generated)))

    def _batch(self, message: IncomingMessage, guard: Redaction | None, context: Context) -> Any:
        batch = self.redact.batch(message, guard)  # besides the turns: the redaction map, a summary, the search's cost
        self.remember.into(batch, message, context)
        self.retrieve.into(batch, message, context)
        return batch




async def earlier_attempt(message: IncomingMessage, run: JobRun, threads: ThreadReader | None, bot_id: str) -> list[str]:
    """Messages an earlier attempt at this job left in Slack, to be replaced.  If it
    died between posting and noting a message, the thread is asked for our messages."""
    partials = _posted(run)
    if POSTING in run.partials and threads is not None:
        found = await threads.own_messages_since(message.channel, message.reply_thread_ts, message.ts, bot_id)
        partials += [ts for ts in found if ts not in partials]
    return partials


def within_edit_window(job: IncomingMessage, seconds: float) -> bool:
    """Whether an edit came soon enough after its message to be answered again."""
    try:
        return float(job.event_ts or 0) - float(job.ts) <= seconds
    except ValueError:
        return False


def dm_went_idle(message: IncomingMessage, last_active: float, idle_seconds: float) -> bool:
    """Whether a top-level DM conversation was idle long enough to start afresh."""
    top_level_dm = message.conversation.thread == ConversationId.TOP_LEVEL_DM
    return top_level_dm and last_active > 0 and time.time() - last_active > idle_seconds


async def state_of(run: JobRun, store: ConversationStore) -> ConversationState:
    """The conversation as it was when the job was taken (read in the same step), else read now."""
    return run.job.state if run.job.state is not None else await store.load(run.message.conversation)


def followed(message: IncomingMessage, state: ConversationState) -> bool:
    """Whether a message is answered as its channel wants: with ``auto_reply`` off, a thread
    message only when it mentions the bot."""
    return state.channel.auto_reply or message.is_direct or message.mentioned or message.source == "app_mention"


def _posted(run: JobRun) -> list[str]:
    """The messages an earlier attempt at this job is known to have posted."""
    return [ts for ts in run.partials if ts != POSTING]
