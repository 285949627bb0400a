"""Slack's AI-app surfaces: what the bot remembers about an assistant thread.

A new thread is known to hold only our greeting (nothing to read back from
Slack), is greeted once however often Slack delivers the event, and is named
once after its first message; what the user is looking at is kept in Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from bot.memory.conversation import ConversationId
from bot.memory.store import ConversationStore
from bot.prompts import PromptCatalog
from bot.slack.assistant_context import RedisThreadContextStore
from bot.slack.events import ANSWER, IncomingMessage
from bot.workspaces import context as workspace_context


@dataclass(frozen=True)
class Greeting:
    text: str
    suggestions: list[dict[str, str]]


class AssistantThreads:
    def __init__(self, store: ConversationStore, catalog: PromptCatalog, *, bot_name: str) -> None:
        self.store = store
        self.catalog = catalog
        self.bot_name = bot_name
        self.contexts = RedisThreadContextStore(store)

    async def started(self, team: str, channel: str, thread_ts: str, user: str, context: Mapping[str, str]) -> Greeting | None:
        """Remember a new assistant thread; its greeting, or None if it was greeted already (a retry)."""
        await self.store.begin_known_thread(ConversationId(team, channel, thread_ts))
        await self.context_changed(channel, thread_ts, context)
        if not await self.store.once_per_thread("greeting", channel, thread_ts):
            return None
        suggestions = [{"title": s.title, "message": s.message} for s in self.catalog.suggestions()]
        return Greeting(greeting(workspace_context.bot_name(self.bot_name), user), suggestions)

    async def context_changed(self, channel: str, thread_ts: str, context: Mapping[str, str]) -> None:
        if context.get("channel_id"):
            await self.contexts.save(channel_id=channel, thread_ts=thread_ts, context=dict(context))

    async def needs_title(self, message: IncomingMessage) -> bool:
        """True once per DM thread, for its first message (only assistant threads show a title)."""
        if not (message.is_direct and message.thread_ts and message.kind == ANSWER):
            return False
        return await self.store.once_per_thread("title", message.channel, message.thread_ts)


def greeting(bot_name: str, user: str) -> str:
    return f"Hi <@{user}>! I'm {bot_name}. Ask me anything, or start from one of the suggestions below."
