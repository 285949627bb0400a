"""Pure functions deciding what an incoming Slack event is and whether to answer it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from bot.memory.conversation import ConversationId
from bot.slack.text import mentions_user

# Message subtypes that are ordinary user messages; every other subtype
# (message_changed, message_deleted, channel_join, bot_message, ...) is ignored.
USER_MESSAGE_SUBTYPES = frozenset({None, "file_share", "thread_broadcast", "me_message"})
DIRECT_CHANNEL_TYPES = frozenset({"im"})
ANSWER, EDIT, REGENERATE = "answer", "edit", "regenerate"
COMMAND = "command"  # a prompt file's slash command: answered once, in no thread


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
    source: str  # "app_mention", "message", or for other kinds where the request came from
    kind: str = ANSWER  # ANSWER a new message, EDIT an edited one, REGENERATE the latest answer again, COMMAND
    event_ts: str | None = None  # when the edit or the click happened (edits and regenerations)
    action_token: str = ""  # Slack's token for searching on the sender's behalf (assistant.search.context)
    files: tuple[dict[str, Any], ...] = ()  # files shared with the message (the fields the bot reads)
    enterprise: str = ""  # distributed mode: the org of an org-wide installation that answers it
    org_install: bool = False
    dm_threads: bool = False  # agent view: each top-level DM message starts a conversation of its own (its thread)
    bot: str = ""  # the sender's bot id, when another bot (one in ALLOW_BOT_IDS) sent it

    @property
    def job_id(self) -> str:
        """Unique per thing to do, and sorting in the order things happened:
        a message's ts, or the edit's/click's time followed by what it is about."""
        if self.kind == ANSWER or not self.event_ts:
            return self.ts
        return f"{self.event_ts}:{self.kind}:{self.ts}"

    @property
    def is_direct(self) -> bool:
        return self.channel_type in DIRECT_CHANNEL_TYPES

    @property
    def conversation(self) -> ConversationId:
        """Threads are conversations; a DM's top-level messages are one running conversation
        (under agent view each starts its own)."""
        if self.thread_ts:
            return ConversationId(self.team, self.channel, self.thread_ts)
        if self.is_direct and not self.dm_threads:
            return ConversationId(self.team, self.channel, ConversationId.TOP_LEVEL_DM)
        return ConversationId(self.team, self.channel, self.ts)

    @property
    def reply_thread_ts(self) -> str | None:
        """Where the answer goes: the thread, a new thread under a channel message (or under
        a top-level DM message, under agent view), or (None) top-level for a DM's top-level
        messages and for commands."""
        if self.thread_ts:
            return self.thread_ts
        return None if (self.is_direct and not self.dm_threads) or self.kind == COMMAND else self.ts

    @property
    def answer_requires_known_thread(self) -> bool:
        """An unmentioned channel message is answered only inside a thread the bot is part of;
        edits and regenerations only in conversations the bot has."""
        if self.kind != ANSWER:
            return True
        return not (self.is_direct or self.mentioned or self.source == "app_mention")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "IncomingMessage":
        values = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        if "files" in values:
            values["files"] = tuple(values["files"] or ())
        return cls(**values)


@dataclass(frozen=True)
class Ignored:
    reason: str


FILE_FIELDS = ("id", "name", "title", "mimetype", "filetype", "size", "mode", "url_private", "url_private_download",
               "channels", "groups", "ims")  # where Slack says the file is shared (who may see it)


def shared_files(raw: Any) -> tuple[dict[str, Any], ...]:
    """The files of a message event, keeping only what reading them needs."""
    if not isinstance(raw, list):
        return ()
    return tuple({key: f[key] for key in FILE_FIELDS if key in f} for f in raw if isinstance(f, Mapping) and f.get("id"))


def classify(body: Mapping[str, Any], bot_user_id: str, bot_id: str = "", *, dm_threads: bool = False,
             allow_bots: frozenset[str] = frozenset()) -> IncomingMessage | Ignored:
    """Turn an Events API body into an :class:`IncomingMessage`, or say why it is ignored.
    ``dm_threads``: agent view, where each top-level DM message is a thread root; ``allow_bots``:
    the other bots whose messages are answered like people's (ALLOW_BOT_IDS)."""
    event = body.get("event")
    if not isinstance(event, Mapping):
        return Ignored("no event")
    kind = event.get("type")
    if kind not in ("app_mention", "message"):
        return Ignored(f"event type {kind!r}")
    subtype = event.get("subtype")
    if subtype is not None and not isinstance(subtype, str):
        return Ignored("malformed subtype")
    if subtype == "message_changed" and kind == "message":
        return _classify_edit(body, event, bot_user_id, dm_threads)
    sender_bot = sending_bot(event, bot_id, allow_bots)
    if isinstance(sender_bot, Ignored):
        return sender_bot
    if subtype not in USER_MESSAGE_SUBTYPES and not (sender_bot and subtype == "bot_message"):
        return Ignored(f"subtype {subtype!r}")
    user = event.get("user") or sender_bot  # a webhook's or workflow's post has a bot id and no user
    if not isinstance(user, str) or not user:
        return Ignored("no user")
    if user == bot_user_id:
        return Ignored("own message")
    channel, ts = event.get("channel"), event.get("ts")
    if not isinstance(channel, str) or not isinstance(ts, str) or not channel or not ts:
        return Ignored("no channel or ts")
    # The workspace the event was delivered for (in a Slack Connect channel, the sender's own
    # team may differ: the conversation and everything kept for it belong to this one).
    team = body.get("team_id") or event.get("team") or ""
    if not isinstance(team, str):
        return Ignored("malformed team")
    text = event.get("text") if isinstance(event.get("text"), str) else ""
    thread_ts = event.get("thread_ts") if isinstance(event.get("thread_ts"), str) else None
    channel_type = event.get("channel_type") or ("im" if channel.startswith("D") else "channel")
    if not isinstance(channel_type, str):
        return Ignored("malformed channel type")
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
        action_token=str(event.get("action_token") or "") if isinstance(event.get("action_token"), str) else "",
        files=shared_files(event.get("files")),
        dm_threads=dm_threads,
        bot=sender_bot,
    )
    if kind == "message" and not message.is_direct and not message.mentioned and not message.thread_ts:
        return Ignored("channel message without a mention")
    return message


def sending_bot(event: Mapping[str, Any], bot_id: str, allow_bots: frozenset[str]) -> str | Ignored:
    """"" for a person's message; the bot id of an allowed bot's; why it is ignored otherwise
    (this bot's own messages always are)."""
    sender = event.get("bot_id")
    if not sender and not event.get("bot_profile"):
        return ""
    if bot_id and sender == bot_id:
        return Ignored("own message")
    if isinstance(sender, str) and sender in allow_bots:
        return sender
    return Ignored("message from a bot")


def _classify_edit(body: Mapping[str, Any], event: Mapping[str, Any], bot_user_id: str, dm_threads: bool) -> IncomingMessage | Ignored:
    """A user's edit of their own message (Slack also sends ``message_changed``
    when it adds link previews: those keep the text and are ignored)."""
    edited, previous = event.get("message"), event.get("previous_message")
    if not isinstance(edited, Mapping):
        return Ignored("edit without a message")
    if edited.get("subtype") not in USER_MESSAGE_SUBTYPES or edited.get("bot_id") or edited.get("bot_profile"):
        return Ignored("edit of a bot or system message")
    user, ts, channel = edited.get("user"), edited.get("ts"), event.get("channel")
    if not isinstance(user, str) or not user or user == bot_user_id:
        return Ignored("edit without a user")
    if not isinstance(ts, str) or not isinstance(channel, str) or not ts or not channel:
        return Ignored("edit without channel or ts")
    text = edited.get("text") if isinstance(edited.get("text"), str) else ""
    if isinstance(previous, Mapping) and previous.get("text") == text:
        return Ignored("edit that keeps the text (a link preview)")
    thread_ts = edited.get("thread_ts") if isinstance(edited.get("thread_ts"), str) else None
    when = (edited.get("edited") or {}).get("ts") if isinstance(edited.get("edited"), Mapping) else None
    return IncomingMessage(
        team=str(body.get("team_id") or event.get("team") or edited.get("team") or ""),
        channel=channel,
        channel_type=str(event.get("channel_type") or ("im" if channel.startswith("D") else "channel")),
        user=user,
        text=text,
        ts=ts,
        thread_ts=thread_ts if thread_ts != ts else None,
        mentioned=mentions_user(text, bot_user_id),
        source="message_changed",
        kind=EDIT,
        event_ts=str(when or event.get("event_ts") or event.get("ts") or ts),
        files=shared_files(edited.get("files")),
        dm_threads=dm_threads,
    )
