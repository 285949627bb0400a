"""gather: what the model reads besides the stored conversation: the asker's turn (names
resolved, attributed in channels, cut to the per-message cap), the thread before the bot
was called in (read from Slack once), and the files shared with the message; redacted
(``redact``) and, with input moderation, passed by it (``moderate``) before the reply starts."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from bot.answer.moderate import Moderate
from bot.answer.parts import BotIdentity, Context, ThreadReader, settle
from bot.answer.redact import Redact
from bot.guardrails.redaction import Redaction
from bot.memory.store import ConversationState
from bot.files.reader import FileReader, SharedFiles
from bot.llm.speakers import attributed
from bot.memory.conversation import StoredMessage
from bot.slack.directory import NameDirectory
from bot.slack.events import IncomingMessage
from bot.slack.history import ThreadMessage, select_earlier
from bot.slack.text import mentioned_user_ids, strip_bot_mention, to_readable
from bot.tokens import TokenCounter

IMPORT_TOKENISE_IN_THREAD = 20  # more imported messages than this are tokenised off the event loop


class Gather:
    def __init__(self, *, counter: TokenCounter, directory: NameDirectory, threads: ThreadReader | None,
                 identity: BotIdentity, thread_import_limit: int, files: FileReader | None,
                 note: Callable[[IncomingMessage, str], Awaitable[None]], redact: Redact, moderate: Moderate) -> None:
        self.redact = redact
        self.moderate = moderate
        self.counter = counter
        self.directory = directory
        self.threads = threads
        self.identity = identity
        self.thread_import_limit = thread_import_limit
        self.files = files
        self.note = note

    async def asked(self, message: IncomingMessage, state: ConversationState, context: Context, question: str,
                        reply: Any, guard: Redaction | None) -> tuple[list[StoredMessage], StoredMessage, Any, Any] | None:
        """The thread before the bot was called in, the asker's turn and their files, redacted,
        with the reply starting beside them (after them, when input moderation must pass
        first: a flagged message shows nothing); None when moderation flagged the message."""
        starting = None if self.moderate.inputs else asyncio.ensure_future(reply.start())  # while Slack is read
        try:
            imported: list[StoredMessage] = []
            if message.thread_ts and not state.imported:
                imported = await self.thread(message, context.cap)
            shared = await self.files_of(message)
        except BaseException:
            if starting is not None:
                await settle(starting)
            raise
        turn = await self.question_turn(message, shared.turn_text(question) if shared else question, context.cap)
        imported, turn = self.redact.turns(guard, imported), self.redact.turns(guard, [turn])[0]
        if starting is None:
            if await self.moderate.refused(message, turn.content):
                return None
            starting = asyncio.ensure_future(reply.start())
        return imported, turn, shared, starting

    async def files_of(self, message: IncomingMessage, *, tell: bool = True) -> SharedFiles | None:
        """The message's files as text and images; the sender is told privately what could not be read."""
        if not message.files or self.files is None:
            return None
        shared = await self.files.read(message.files, channel=message.channel, only_asker=message.is_direct)
        if shared.problems and tell:
            await self.note(message, "\n".join(shared.problems) + ".")
        return shared

    async def question_turn(self, message: IncomingMessage, question: str, cap: int) -> StoredMessage:
        names = await self.directory.user_names(message.team, [message.user, *mentioned_user_ids(question)])
        speaker = names.get(message.user, message.user)
        text = to_readable(question, names)
        if message.is_direct and not message.bot:
            content = text
        else:  # the same cached lookup as the name; another bot is one whatever Slack says of its user
            trust = "bot" if message.bot else (await self.directory.user_trusts(message.team, [message.user])).get(message.user, "")
            content = attributed(speaker, message.user, text, trust)
        return self._stored("user", self.counter.shorten(content, cap), message.ts, message.user)

    async def thread(self, message: IncomingMessage, cap: int) -> list[StoredMessage]:
        """The thread's messages before this one (a thread the bot had not been part of)."""
        if self.threads is None or message.thread_ts is None:
            return []
        raw = await self.threads.earlier_in_thread(message.channel, message.thread_ts, message.ts, self.thread_import_limit)
        earlier = select_earlier(raw, message.ts, self.identity.user_id, self.identity.bot_id, self.thread_import_limit)
        if not earlier:
            return []
        speakers = [m.user for m in earlier if m.user and not m.from_this_bot]
        mentioned = [uid for m in earlier for uid in mentioned_user_ids(m.text)]
        names = await self.directory.user_names(message.team, [*speakers, *mentioned])
        trusts = await self.directory.user_trusts(message.team, speakers)
        if len(earlier) <= IMPORT_TOKENISE_IN_THREAD:
            return [self._imported_turn(m, names, trusts, cap, message.is_direct) for m in earlier]
        # Counting tokens of hundreds of messages takes tens of milliseconds: not on the event loop.
        return await asyncio.to_thread(lambda: [self._imported_turn(m, names, trusts, cap, message.is_direct) for m in earlier])

    def _imported_turn(self, m: ThreadMessage, names: dict[str, str], trusts: dict[str, str], cap: int,
                       direct: bool) -> StoredMessage:
        text = to_readable(strip_bot_mention(m.text, self.identity.user_id), names)
        if m.from_this_bot:
            return self._stored("assistant", self.counter.shorten(text, cap), m.ts, self.identity.user_id)
        speaker = names.get(m.user, m.user) if m.user else m.bot_name
        trust = trusts.get(m.user, "") if m.user else "bot"
        content = text if direct and m.user else attributed(speaker, m.user or "", text, trust)
        return self._stored("user", self.counter.shorten(content, cap), m.ts, m.user)

    def _stored(self, role: str, content: str, ts: str, user: str) -> StoredMessage:
        return StoredMessage(role=role, content=content, tokens=self.counter.count_message(content), ts=ts, user=user)  # type: ignore[arg-type]
