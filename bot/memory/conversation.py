"""The data the bot keeps about a conversation, and how it is named in Redis."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from bot.llm.calls import ToolCall
from bot.tokens import ROLE_TOKENS

Role = Literal["user", "assistant", "tool"]

KEY_SCHEMA_VERSION = "v1"
ROLE_CODES: dict[str, str] = {"user": "u", "assistant": "a", "tool": "t"}
ROLES: dict[str, Role] = {code: role for role, code in ROLE_CODES.items()}  # type: ignore[misc]


@dataclass(frozen=True)
class ConversationId:
    """One conversation: a Slack thread, or the running top-level chat of a DM."""

    team: str
    channel: str
    thread: str  # the thread's ts, or TOP_LEVEL_DM for a DM's top-level messages

    TOP_LEVEL_DM = "dm"

    def __str__(self) -> str:
        return f"{self.team}:{self.channel}:{self.thread}"

    @property
    def is_dm_thread(self) -> bool:
        """A thread in a direct message (an assistant thread, which may have Slack's thread context)."""
        return self.channel.startswith("D") and self.thread != self.TOP_LEVEL_DM


@dataclass(frozen=True)
class StoredMessage:
    """One turn as the model sees it, with its token count computed once.

    A tool round is stored as turns too: the assistant turn that asked for calls
    (``tool_calls``) and one ``tool`` turn per result (``tool_call_id``), so a
    follow-up question can use what the tools returned."""

    role: Role
    content: str
    tokens: int
    ts: str = ""
    user: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""

    def to_json(self) -> str:
        # A compact array: [role letter, content, tokens, ts, user(, tool calls(, call id))].  Every
        # turn of every conversation is stored, so field names are not (a fifth of the overhead).
        # "tokens": with the role counted.
        data: list[Any] = [ROLE_CODES[self.role], self.content, self.tokens, self.ts, self.user]
        if self.tool_calls or self.tool_call_id:
            data.append([[call.id, call.name, call.arguments] for call in self.tool_calls])
        if self.tool_call_id:
            data.append(self.tool_call_id)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> "StoredMessage":
        return cls._from_data(json.loads(raw))

    @classmethod
    def many_from_json(cls, raws: list[str]) -> list["StoredMessage"]:
        """Decode a whole window in one parse (about twice as fast as one parse per message)."""
        return [cls._from_data(data) for data in json.loads("[" + ",".join(raws) + "]")] if raws else []

    @classmethod
    def _from_data(cls, data: Any) -> "StoredMessage":
        if isinstance(data, list):
            role, content, tokens, ts, user, *rest = data
            calls = tuple(ToolCall(*call) for call in (rest[0] if rest else ()))
            return cls(role=ROLES[role], content=content, tokens=int(tokens), ts=ts, user=user, tool_calls=calls,
                       tool_call_id=str(rest[1]) if len(rest) > 1 else "")
        return cls._from_dict(data)

    @classmethod
    def _from_dict(cls, data: dict[str, object]) -> "StoredMessage":
        """A turn stored before the compact form: {"r", "c", "t" (or "n": without the role), "ts", "u", "tc", "ci"}."""
        tokens = int(data["t"]) if "t" in data else int(data["n"]) + ROLE_TOKENS  # type: ignore[call-overload]
        calls = tuple(ToolCall(*call) for call in data.get("tc") or ())  # type: ignore[attr-defined]
        return cls(role=data["r"], content=data["c"], tokens=tokens, ts=data.get("ts", ""), user=data.get("u", ""),  # type: ignore[arg-type]
                   tool_calls=calls, tool_call_id=str(data.get("ci") or ""))

    def as_chat(self) -> dict[str, Any]:
        if self.role == "tool":
            return {"role": "tool", "tool_call_id": self.tool_call_id, "content": self.content}
        if self.tool_calls:
            return {"role": "assistant", "content": self.content or None,
                    "tool_calls": [call.as_chat() for call in self.tool_calls]}
        return {"role": self.role, "content": self.content}


def answer_start(history: "list[StoredMessage] | tuple[StoredMessage, ...]") -> int:
    """Where the latest answer begins: just after the last user turn (an answer is its
    tool rounds and its text).  ``len(history)`` when the history ends with a user turn."""
    for n in range(len(history) - 1, -1, -1):
        if history[n].role == "user":
            return n + 1
    return 0


def as_text(value: str | bytes) -> str:
    """A Redis reply as text, whether or not the client decodes responses."""
    return value.decode() if isinstance(value, bytes) else value


VIEWING = "viewing"  # the "thread" under which a DM's current view (agent view) is kept


class Keys:
    """Versioned Redis key names (``base``): a conversation's, a channel's and a workspace's.
    The conversation id sits in a {hash tag} so that all keys of one conversation live in
    one Redis Cluster slot.  Each subpackage names its own keys from ``base``:
    bot/delivery/keys.py, bot/usage/ledger.py, bot/tools/approval.py, bot/workspaces/keys.py."""

    def __init__(self, prefix: str) -> None:
        self.base = f"{prefix}:{KEY_SCHEMA_VERSION}"

    def _conv(self, cid: ConversationId, part: str) -> str:
        return f"{self.base}:conv:{{{cid}}}:{part}"

    def messages(self, cid: ConversationId) -> str:
        return self._conv(cid, "messages")

    def meta(self, cid: ConversationId) -> str:
        return self._conv(cid, "meta")

    def queue(self, cid: ConversationId) -> str:
        return self._conv(cid, "queue")

    def queue_items(self, cid: ConversationId) -> str:
        return self._conv(cid, "queue-items")

    def lock(self, cid: ConversationId) -> str:
        """The conversation's lease: ``<worker>:<fence>`` of the process answering it."""
        return self._conv(cid, "lock")

    def partials(self, cid: ConversationId) -> str:
        """Per queued job, the messages an attempt has already shown in Slack."""
        return self._conv(cid, "partials")

    def last_answer(self, cid: ConversationId) -> str:
        """The conversation's latest answer: its messages, who asked, prompt and model (for its buttons)."""
        return self._conv(cid, "answer")

    def claims(self, cid: ConversationId) -> str:
        """Messages (job ids) taken, each once: a retry or twin event maps to the same
        conversation and job id.  A sorted set: job id -> when the claim lapses (ms)."""
        return self._conv(cid, "claims")

    def channel_conversations(self, team: str, channel: str) -> str:
        """The threads of a channel the bot keeps, so a reset can forget them all."""
        return f"{self.base}:channel-conversations:{team}:{channel}"

    def channel_records(self, team: str, channel: str) -> str:
        """Every answer, rating and thread context key kept for a channel, so a reset can forget them all."""
        return f"{self.base}:channel-records:{team}:{channel}"

    def persona(self, team: str, channel: str) -> str:
        return f"{self.base}:persona:{team}:{channel}"

    def channel_settings(self, team: str, channel: str) -> str:
        """A channel's settings (/assistant config): a hash of model, tools, auto_reply, daily_tokens."""
        return f"{self.base}:channel-settings:{team}:{channel}"

    def migration(self, name: str) -> str:
        """Set once a one-time change of stored data is done."""
        return f"{self.base}:migrated:{name}"

    def workspace_patterns(self, team: str) -> list[str]:
        """Patterns of every key kept for workspace ``team`` (conversations, their work and
        claims, channel indexes, personas, ratings, usage, names, stops, flood counts)."""
        return [f"{self.base}:conv:{{{team}:*", f"{self.base}:flood:{{{team}:*", f"{self.base}:usage:{{{team}}}:*",
                *(f"{self.base}:{kind}:{team}:*" for kind in
                  ("channel-conversations", "channel-records", "persona", "channel-settings", "feedback", "name", "stop", "user-dm"))]

    def feedback(self, team: str, channel: str, ts: str) -> str:
        return f"{self.base}:feedback:{team}:{channel}:{ts}"

    def feedback_pattern(self) -> str:
        return f"{self.base}:feedback:*"

    def stop(self, team: str, channel: str, ts: str) -> str:
        """Set when someone pressed Stop on a streaming answer."""
        return f"{self.base}:stop:{team}:{channel}:{ts}"

    def thread_context(self, channel: str, thread_ts: str) -> str:
        """What an assistant thread's user is looking at (Slack's assistant thread context); with
        VIEWING for the thread, what a DM's user looks at now (agent view's app_context_changed)."""
        return f"{self.base}:assistant-context:{channel}:{thread_ts}"

    def contexts_of(self, cid: ConversationId) -> list[str]:
        """Where a DM thread's context is found, first the thread's own (assistant view), then
        what its user looks at now (agent view); none for other conversations."""
        if not cid.is_dm_thread:
            return []
        return [self.thread_context(cid.channel, cid.thread), self.thread_context(cid.channel, VIEWING)]

    def user_dm(self, team: str, user: str) -> str:
        """The DM channel between the bot and a user (learnt when they open the Messages tab)."""
        return f"{self.base}:user-dm:{team}:{user}"

    def thread_once(self, purpose: str, channel: str, thread_ts: str) -> str:
        """Taken once per assistant thread and purpose (greeting, title)."""
        return f"{self.base}:assistant-{purpose}:{channel}:{thread_ts}"

    def name(self, team: str, slack_id: str) -> str:
        """The readable name of a user or channel id."""
        return f"{self.base}:name:{team}:{slack_id}"
