"""Pure functions deciding what an incoming Slack event is and whether to answer it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .conversation import ConversationId
from .slack_text import mentions_user

# Message subtypes that are ordinary user messages; every other subtype
# (message_changed, message_deleted, channel_join, bot_message, ...) is ignored.
USER_MESSAGE_SUBTYPES = frozenset({None, "file_share", "thread_broadcast", "me_message"})
DIRECT_CHANNEL_TYPES = frozenset({"im"})


@dataclass(frozen=True)
class IncomingMessage:
    """A user message the bot may answer, in the shape the rest of the bot uses."""

    team: str
    channel: str
    channel_type: str
    user: str
    text: str
    ts: str
    thread_ts: str | None
    mentioned: bool
    source: str  # "app_mention" or "message"

    @property
    def is_direct(self) -> bool:
        return self.channel_type in DIRECT_CHANNEL_TYPES

    @property
    def conversation(self) -> ConversationId:
        """Threads are conversations; a DM's top-level messages are one running conversation."""
        if self.thread_ts:
            return ConversationId(self.team, self.channel, self.thread_ts)
        if self.is_direct:
            return ConversationId(self.team, self.channel, ConversationId.TOP_LEVEL_DM)
        return ConversationId(self.team, self.channel, self.ts)

    @property
    def reply_thread_ts(self) -> str | None:
        """Where the answer goes: the thread, a new thread under a channel
        message, or (None) top-level for a DM's top-level messages."""
        if self.thread_ts:
            return self.thread_ts
        return None if self.is_direct else self.ts

    @property
    def answer_requires_known_thread(self) -> bool:
        """An unmentioned channel message is answered only inside a thread the bot is part of."""
        return not (self.is_direct or self.mentioned or self.source == "app_mention")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "IncomingMessage":
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})  # type: ignore[arg-type]


@dataclass(frozen=True)
class Ignored:
    reason: str


def classify(body: Mapping[str, Any], bot_user_id: str, bot_id: str = "") -> IncomingMessage | Ignored:
    """Turn an Events API body into an :class:`IncomingMessage`, or say why it is ignored."""
    event = body.get("event")
    if not isinstance(event, Mapping):
        return Ignored("no event")
    kind = event.get("type")
    if kind not in ("app_mention", "message"):
        return Ignored(f"event type {kind!r}")
    subtype = event.get("subtype")
    if subtype not in USER_MESSAGE_SUBTYPES:
        return Ignored(f"subtype {subtype!r}")
    if event.get("bot_id") or event.get("bot_profile"):
        return Ignored("own message" if bot_id and event.get("bot_id") == bot_id else "message from a bot")
    user = event.get("user")
    if not isinstance(user, str) or not user:
        return Ignored("no user")
    if user == bot_user_id:
        return Ignored("own message")
    channel, ts = event.get("channel"), event.get("ts")
    if not isinstance(channel, str) or not isinstance(ts, str) or not channel or not ts:
        return Ignored("no channel or ts")
    team = event.get("team") or body.get("team_id") or ""
    text = event.get("text") if isinstance(event.get("text"), str) else ""
    thread_ts = event.get("thread_ts") if isinstance(event.get("thread_ts"), str) else None
    channel_type = event.get("channel_type") or ("im" if channel.startswith("D") else "channel")
    message = IncomingMessage(
        team=str(team),
        channel=channel,
        channel_type=str(channel_type),
        user=user,
        text=text,
        ts=ts,
        thread_ts=thread_ts if thread_ts != ts else None,
        mentioned=kind == "app_mention" or mentions_user(text, bot_user_id),
        source=str(kind),
    )
    if kind == "message" and not message.is_direct and not message.mentioned and not message.thread_ts:
        return Ignored("channel message without a mention")
    return message
