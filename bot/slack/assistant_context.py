"""Assistant thread context kept in Redis, behind Bolt's thread-context store
interface (Bolt's default keeps it in Slack message metadata and spends extra
API calls reading it back)."""

from __future__ import annotations

from typing import Optional

from slack_bolt.context.assistant.thread_context import AssistantThreadContext
from slack_bolt.context.assistant.thread_context_store.async_store import AsyncAssistantThreadContextStore

from bot.memory.store import ConversationStore


class RedisThreadContextStore(AsyncAssistantThreadContextStore):
    def __init__(self, store: ConversationStore) -> None:
        self.store = store

    async def save(self, *, channel_id: str, thread_ts: str, context: dict[str, str]) -> None:
        await self.store.save_thread_context(channel_id, thread_ts, dict(context))

    async def find(self, *, channel_id: str, thread_ts: str) -> Optional[AssistantThreadContext]:
        found = await self.store.get_thread_context(channel_id, thread_ts)
        return AssistantThreadContext(found) if found and found.get("channel_id") else None
