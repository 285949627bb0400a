"""Answering one user message: history, budget, model, reply, memory.

The caller (the dispatcher) guarantees that one message of a conversation is
answered at a time, in order, exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from redis.exceptions import RedisError
from slack_sdk.web.async_client import AsyncWebClient

from .conversation import ConversationId, StoredMessage
from .directory import Directory
from .events import IncomingMessage
from .model import ModelClient, ModelError, ModelReply
from .prompts import Prompt
from .reply import SlackReply
from .slack_text import mentioned_user_ids, strip_bot_mention, to_readable
from .store import ConversationStore
from .thread_import import ThreadMessage, fetch_thread, select_earlier
from .tokens import TokenCounter
from .trimming import build_request, message_token_cap, plan_window

log = logging.getLogger(__name__)

# What users read when something goes wrong: plain sentences, no internals.
MODEL_FAILED = "Sorry, I couldn't get an answer from the language model just now. Please try again in a moment."
MODEL_TIMED_OUT = "Sorry, the language model took too long to answer. Please try again in a moment."
STORE_FAILED = "Sorry, I can't answer right now because my conversation memory is unavailable. Please try again in a minute."
INTERNAL_FAILURE = "Sorry, something went wrong on my side while answering. Please try again."
INTERRUPTED = "Sorry, I was restarted before I could finish this answer. Please ask again."
EMPTY_MESSAGE = "It looks like your message was empty. What would you like to ask?"

SYSTEM_TOKENS_CACHE_LIMIT = 256


@dataclass(frozen=True)
class BotIdentity:
    user_id: str
    bot_id: str
    team_id: str


@dataclass(frozen=True)
class Budget:
    max_context_tokens: int
    trim_target_ratio: float


class Responder:
    def __init__(
        self,
        *,
        slack: AsyncWebClient,
        store: ConversationStore,
        model: ModelClient,
        counter: TokenCounter,
        prompt: Prompt,
        directory: Directory,
        identity: BotIdentity,
        budget: Budget,
        bot_name: str,
        update_interval: float,
        dm_idle_reset_seconds: float,
        thread_import_limit: int,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.slack = slack
        self.store = store
        self.model = model
        self.counter = counter
        self.prompt = prompt
        self.directory = directory
        self.identity = identity
        self.budget = budget
        self.bot_name = bot_name
        self.update_interval = update_interval
        self.dm_idle_reset_seconds = dm_idle_reset_seconds
        self.thread_import_limit = thread_import_limit
        self.now = now
        self._system_tokens: dict[str, int] = {}

    # ------------------------------------------------------------------
    async def answer(self, message: IncomingMessage) -> None:
        """Answer ``message`` in Slack; every failure ends in one plain sentence."""
        reply = SlackReply(self.slack, message.channel, message.reply_thread_ts, interval=self.update_interval)
        try:
            await self._answer(message, reply)
        except asyncio.CancelledError:
            await asyncio.shield(reply.fail(INTERRUPTED))
            raise
        except RedisError as exc:
            log.error("store unavailable while answering %s: %s", message.conversation, type(exc).__name__)
            await reply.fail(STORE_FAILED)
        except Exception:
            log.exception("answering %s failed", message.conversation)
            await reply.fail(INTERNAL_FAILURE)

    async def apologise(self, message: IncomingMessage, sentence: str) -> None:
        """Say why a message cannot be answered, without touching the store."""
        await SlackReply(self.slack, message.channel, message.reply_thread_ts, interval=self.update_interval).fail(sentence)

    # ------------------------------------------------------------------
    async def _answer(self, message: IncomingMessage, reply: SlackReply) -> None:
        cid = message.conversation
        question = strip_bot_mention(message.text, self.identity.user_id)
        if not question:
            await reply.fail(EMPTY_MESSAGE)
            return
        state = await self.store.load(cid)
        history = state.messages
        if self._dm_went_idle(message, state.last_active) and history:
            history = []
            await self.store.clear_messages(cid)

        system_prompt = await self._system_prompt(message)
        system_tokens = self._count_system(system_prompt)
        cap = message_token_cap(self.budget.max_context_tokens, system_tokens)

        imported: list[StoredMessage] = []
        if message.thread_ts and not state.imported:
            imported = await self._import_thread(message, cap)

        names = await self.directory.user_names(message.team, [message.user, *mentioned_user_ids(question)])
        turn = self._user_turn(message, to_readable(question, names), names.get(message.user, message.user), cap)

        window = [*history, *imported, turn]
        drop = plan_window(window, system_tokens, self.budget.max_context_tokens, self.budget.trim_target_ratio)
        await self.store.save_turn(cid, [*imported, turn], drop_oldest=drop, imported=True)
        request = build_request(system_prompt, window[drop:])

        if not await reply.start():
            log.warning("could not post in %s; the answer is abandoned", cid)
            return
        answer = ModelReply()
        started = time.perf_counter()
        try:
            async for _ in self.model.stream(request, answer):
                await reply.progress(answer.text)
        except ModelError as exc:
            log.warning("model failed for %s: %s", cid, exc.kind)
            await reply.fail(MODEL_TIMED_OUT if exc.kind == "timeout" else MODEL_FAILED)
            return
        posted = await reply.finish(answer.text)
        log.info(
            "answered %s in %.2fs: prompt %d tokens (%d cached), completion %d tokens, %d messages kept, %d dropped",
            cid,
            time.perf_counter() - started,
            answer.usage.prompt_tokens,
            answer.usage.cached_tokens,
            answer.usage.completion_tokens,
            len(window) - drop,
            drop,
        )
        assistant_turn = StoredMessage(
            role="assistant",
            content=answer.text,
            tokens=self.counter.count_message(answer.text),
            ts=posted[0] if posted else "",
            user=self.identity.user_id,
        )
        await self.store.save_turn(cid, [assistant_turn])

    # ------------------------------------------------------------------
    def _dm_went_idle(self, message: IncomingMessage, last_active: float) -> bool:
        top_level_dm = message.conversation.thread == ConversationId.TOP_LEVEL_DM
        return top_level_dm and last_active > 0 and time.time() - last_active > self.dm_idle_reset_seconds

    async def _system_prompt(self, message: IncomingMessage) -> str:
        if message.is_direct:
            channel = "a direct message"
        else:
            channel = await self.directory.channel_name(message.team, message.channel)
        user_name = await self.directory.user_name(message.team, message.user)
        return self.prompt.render(
            {
                "bot_name": self.bot_name,
                "date": self.now().strftime("%A, %d %B %Y"),
                "user_name": user_name,
                "channel": channel,
            }
        )

    def _count_system(self, system_prompt: str) -> int:
        tokens = self._system_tokens.get(system_prompt)
        if tokens is None:
            if len(self._system_tokens) >= SYSTEM_TOKENS_CACHE_LIMIT:
                self._system_tokens.clear()
            tokens = self._system_tokens[system_prompt] = self.counter.count_message(system_prompt)
        return tokens

    def _user_turn(self, message: IncomingMessage, text: str, speaker: str, cap: int) -> StoredMessage:
        content = text if message.is_direct else f"{speaker}: {text}"
        return self._stored("user", self.counter.shorten(content, cap), message.ts, message.user)

    def _stored(self, role: str, content: str, ts: str, user: str) -> StoredMessage:
        return StoredMessage(role=role, content=content, tokens=self.counter.count_message(content), ts=ts, user=user)  # type: ignore[arg-type]

    async def _import_thread(self, message: IncomingMessage, cap: int) -> list[StoredMessage]:
        assert message.thread_ts is not None
        raw = await fetch_thread(self.slack, message.channel, message.thread_ts, message.ts, self.thread_import_limit)
        earlier = select_earlier(raw, message.ts, self.identity.user_id, self.identity.bot_id, self.thread_import_limit)
        if not earlier:
            return []
        speakers = [m.user for m in earlier if m.user and not m.from_this_bot]
        mentioned = [uid for m in earlier for uid in mentioned_user_ids(m.text)]
        names = await self.directory.user_names(message.team, [*speakers, *mentioned])
        return [self._imported_turn(m, names, cap, message.is_direct) for m in earlier]

    def _imported_turn(self, m: ThreadMessage, names: dict[str, str], cap: int, direct: bool) -> StoredMessage:
        text = to_readable(strip_bot_mention(m.text, self.identity.user_id), names)
        if m.from_this_bot:
            return self._stored("assistant", self.counter.shorten(text, cap), m.ts, self.identity.user_id)
        speaker = names.get(m.user, m.user) if m.user else m.bot_name
        content = text if direct and m.user else f"{speaker}: {text}"
        return self._stored("user", self.counter.shorten(content, cap), m.ts, m.user)
