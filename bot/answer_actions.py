"""What the buttons on an answer do, and who may press them.

Stop and Regenerate act only for the person who asked (or an ``ADMIN_USER_IDS``
user); anyone else gets a private note.  Ratings are per person: each user's
latest 👍/👎 on an answer is kept, and acknowledged privately, so the buttons
stay for everyone else.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Sequence

from bot.delivery.dispatcher import Dispatcher
from bot.delivery.stops import StopSignals
from bot.slack.agent_sessions import session_stop_target
from bot.memory.conversation import ConversationId
from bot.memory.store import ConversationState, ConversationStore
from bot.slack.events import REGENERATE, IncomingMessage
from bot.slack.answer_blocks import parse_button_value
from bot.wording import CANNOT_REGENERATE, NOT_LATEST_ANSWER, NOT_YOUR_ANSWER, NOT_YOUR_ANSWER_TO_STOP

log = logging.getLogger(__name__)

ANSWER_RECORD_WAIT_SECONDS = 3.0
THANKS = {"up": "👍 Thanks for the feedback!", "down": "👎 Thanks: this helps us improve."}


@dataclass(frozen=True)
class ButtonPress:
    team: str
    channel: str
    message_ts: str  # the message whose button was pressed
    user: str  # who pressed it
    value: str  # the button's value, as the bot wrote it
    action_ts: str = ""
    thread_ts: str = ""  # the pressed message's thread, from the payload (buttons written before their value named it)

    @property
    def answer_ts(self) -> str:
        """The first message of the answer the button belongs to."""
        return parse_button_value(self.value)[0] or self.message_ts

    @property
    def asker(self) -> str:
        return parse_button_value(self.value)[1]

    @property
    def conversation(self) -> ConversationId:
        """The conversation the answer belongs to."""
        thread = parse_button_value(self.value)[2] or self.thread_ts
        if not thread:
            thread = ConversationId.TOP_LEVEL_DM if self.channel.startswith("D") else self.answer_ts
        return ConversationId(self.team, self.channel, thread)


class AnswerActions:
    def __init__(
        self, store: ConversationStore, dispatcher: Dispatcher, stops: StopSignals, *, admins: frozenset[str],
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc), metrics: Any = None,
        is_private: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self.is_private = is_private  # whether a channel is private (a DM, group DM or private channel)
        self.metrics = metrics  # bot.observability.metrics.Metrics: ratings are counted
        self.stops = stops
        self.store = store
        self.dispatcher = dispatcher
        self.admins = admins
        self.now = now

    def _may_act(self, press: ButtonPress, asker: str) -> bool:
        return press.user in self.admins or (bool(asker) and press.user == asker)

    async def session_stopped(self, team: str, channel: str, thread_ts: str, streams: Sequence[str]) -> None:
        """Slack's own Stop on an agent session: stop the answer being written in that thread
        (named by its streamed messages, or by its thread when nothing is streamed yet)."""
        targets = [*streams, session_stop_target(thread_ts)] if thread_ts else list(streams)
        for target in targets:
            await self.stops.request(team, channel, target)
        log.info("agent session stopped in %s %s", channel, thread_ts)

    async def stop(self, press: ButtonPress) -> str | None:
        """Stop the answer being written; a private note when the presser may not."""
        if not self._may_act(press, press.asker):
            log.info("stop on %s %s refused for %s", press.channel, press.message_ts, press.user)
            return NOT_YOUR_ANSWER_TO_STOP
        await self.stops.request(press.team, press.channel, press.message_ts)
        log.info("stop requested on %s %s by %s", press.channel, press.message_ts, press.user)
        return None

    async def rate(self, press: ButtonPress, rating: str) -> str:
        """Keep this person's rating of the answer; the private acknowledgement."""
        state = await self._state_with(press)
        turns = state.messages
        at = next((n for n in range(len(turns) - 1, -1, -1) if turns[n].role == "assistant" and turns[n].ts == press.answer_ts), None)
        answer = turns[at].content if at is not None else ""
        question = next((turns[n].content for n in range((at or 0) - 1, -1, -1) if turns[n].role == "user"), "") if at else ""
        record = state.last_answer if (state.last_answer or {}).get("ts") == press.answer_ts else {}
        entry = {
            **{k: v for k, v in (record or {}).items() if k not in ("ts", "parts")},
            "question": question,
            "answer": answer,
            "conversation": str(press.conversation),
            "rating": rating,
            "rated_by": press.user,
            "rated_at": self.now().isoformat(timespec="seconds"),
            "team": press.team,
            "channel": press.channel,
            "message_ts": press.message_ts,
            "answer_ts": press.answer_ts,
            "private": await self._private(press.channel, str((record or {}).get("channel_type") or "")),
        }
        # Per answer text: a regenerated answer in the same message is rated apart.
        version = hashlib.sha1(answer.encode()).hexdigest()[:10]
        await self.store.save_feedback(press.team, press.channel, f"{press.answer_ts}:{version}", press.user, entry)
        if self.metrics is not None:
            self.metrics.feedback.labels(rating).inc()
        return THANKS[rating]

    async def _private(self, channel: str, channel_type: str) -> bool:
        """Whether the rated answer was in a private conversation (exports leave those out)."""
        if channel_type in ("im", "mpim", "group") or channel.startswith(("D", "G")):
            return True
        return True if self.is_private is None else await self.is_private(channel)

    async def regenerate(self, press: ButtonPress) -> str | None:
        """Queue a new answer in place of the latest one; a private note when it cannot be."""
        first = press.answer_ts
        cid = press.conversation
        await self._state_with(press)  # the answer is stored (a quick click may come first)
        # Anything queued means a newer question is being answered.  Read before the
        # history: a question committed in between then shows in the history instead.
        pending = await self.dispatcher.queue.waiting(cid)
        state = await self.store.load(cid)
        record = state.last_answer if (state.last_answer or {}).get("ts") == first else None
        history = state.messages
        latest = history[-1] if history else None
        if pending or latest is None or latest.role != "assistant" or latest.ts != first:
            return NOT_LATEST_ANSWER
        if record is None:
            return CANNOT_REGENERATE
        job = regeneration(record, press, cid, first)
        asker = press.asker or str(record.get("asker") or "") or (history[-2].user if len(history) > 1 else "")
        if not self._may_act(press, asker):
            log.info("regenerate on %s refused for %s", first, press.user)
            return NOT_YOUR_ANSWER
        log.info("regenerating %s in %s for %s", first, job.conversation, asker)
        self.dispatcher.submit(job if job.user == asker else _for(job, asker))
        return None

    async def _state_with(self, press: ButtonPress) -> ConversationState:
        """The answer's conversation.  The answer is stored just after it is shown, so a
        very quick click may wait a moment for it."""
        deadline = time.monotonic() + ANSWER_RECORD_WAIT_SECONDS
        while True:
            state = await self.store.load(press.conversation)
            newest = state.messages[-1].ts if state.messages else ""
            stored = any(m.ts == press.answer_ts for m in state.messages) or (newest and _ts(newest) >= _ts(press.answer_ts))
            if stored or time.monotonic() >= deadline:
                return state
            await asyncio.sleep(0.1)


def _ts(ts: str) -> float:
    try:
        return float(ts)
    except ValueError:
        return 0.0


def regeneration(record: dict[str, Any], press: ButtonPress, cid: ConversationId, first_ts: str) -> IncomingMessage:
    """The queued job that answers the latest turn again, for the person who asked."""
    return IncomingMessage(
        team=press.team,
        channel=press.channel,
        channel_type=str(record.get("channel_type") or ("im" if press.channel.startswith("D") else "channel")),
        user=str(record.get("asker") or press.asker or press.user),
        text="",
        ts=first_ts,
        thread_ts=None if cid.thread == ConversationId.TOP_LEVEL_DM else cid.thread,
        mentioned=True,
        source="regenerate_button",
        kind=REGENERATE,
        event_ts=press.action_ts or f"{time.time():.6f}",
    )


def _for(job: IncomingMessage, user: str) -> IncomingMessage:
    return IncomingMessage(**{**job.to_dict(), "user": user})
