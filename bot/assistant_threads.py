"""Slack's AI-app surfaces: what the bot remembers about assistant threads and the agent DM.

Split view (assistant_view): a new thread is known to hold only our greeting (nothing to
read back from Slack), is greeted once however often Slack delivers the event; what its user
is looking at is kept per thread.  Agent view: the Messages tab greets each user once, and
what they are looking at (``app_context_changed``) is kept for their DM.  Either way a DM
thread is named once, after its first message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from bot.memory.conversation import VIEWING, ConversationId
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
    def __init__(self, store: ConversationStore, catalog: PromptCatalog, *, bot_name: str, agent_view: bool = True) -> None:
        self.store = store
        self.catalog = catalog
        self.bot_name = bot_name
        self.agent_view = agent_view  # SLACK_AGENT_SURFACE: each top-level DM message starts its own thread
        self.contexts = RedisThreadContextStore(store)

    def suggestions(self) -> list[dict[str, str]]:
        return [{"title": s.title, "message": s.message} for s in self.catalog.suggestions()]

    async def messages_tab_opened(self, team: str, channel: str, user: str) -> Greeting:
        """Agent view: the user opened the bot's Messages tab (their DM): the greeting the first
        time ("" after), and the suggested prompts."""
        first = await self.store.first_visit(team, channel, user)
        text = greeting(workspace_context.bot_name(self.bot_name), user) if first else ""
        return Greeting(text, self.suggestions())

    async def viewing_changed(self, team: str, user: str, channel: str | None, context: Mapping[str, object]) -> None:
        """Agent view: what ``user`` looks at beside their DM with the bot now (``channel``: that
        DM, when the event names it; else the one learnt when they opened the tab)."""
        dm = channel or await self.store.dm_of(team, user)
        if not dm:
            return
        viewing = viewed_channel(context)
        if viewing:
            await self.store.save_thread_context(dm, VIEWING, {"channel_id": viewing})
        else:
            await self.store.forget_thread_context(dm, VIEWING)

    async def started(self, team: str, channel: str, thread_ts: str, user: str, context: Mapping[str, str]) -> Greeting | None:
        """Remember a new assistant thread; its greeting, or None if it was greeted already (a retry)."""
        await self.store.begin_known_thread(ConversationId(team, channel, thread_ts))
        await self.context_changed(channel, thread_ts, context)
        if not await self.store.once_per_thread("greeting", channel, thread_ts):
            return None
        return Greeting(greeting(workspace_context.bot_name(self.bot_name), user), self.suggestions())

    async def context_changed(self, channel: str, thread_ts: str, context: Mapping[str, str]) -> None:
        if context.get("channel_id"):
            await self.contexts.save(channel_id=channel, thread_ts=thread_ts, context=dict(context))

    async def needs_title(self, message: IncomingMessage) -> bool:
        """True once per DM thread, for its first message (only assistant threads show a title)."""
        thread = message.reply_thread_ts
        if not (message.is_direct and thread and message.kind == ANSWER):
            return False
        return await self.store.once_per_thread("title", message.channel, thread)


def viewed_channel(context: Mapping[str, object]) -> str | None:
    """The channel in an ``app_context_changed`` context (``entities``: what the user looks at;
    a channel, or a message in one), None when it names none."""
    entities = context.get("entities")
    for entity in entities if isinstance(entities, list) else []:
        if isinstance(entity, Mapping) and str(entity.get("type", "")).endswith("channel_id") and entity.get("value"):
            return str(entity["value"])
    return None


def greeting(bot_name: str, user: str) -> str:
    return f"Hi <@{user}>! I'm {bot_name}. Ask me anything, or start from one of the suggestions below."
