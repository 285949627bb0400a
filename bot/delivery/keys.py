"""Delivery's own Redis keys (from the store's versioned base): process-level keys in one
slot, a user's flood count in theirs, and a thread's bot turns in its own."""

from __future__ import annotations

from bot.memory.conversation import ConversationId, Keys


def delivery_key(keys: Keys, part: str) -> str:
    """Process-level delivery keys (workers, what each holds, work waiting for room, inboxes, Stop), all in one slot."""
    return f"{keys.base}:{{delivery}}:{part}"


def flood_key(keys: Keys, team: str, user: str) -> str:
    """A user's recently answered messages (the flood limit)."""
    return f"{keys.base}:flood:{{{team}:{user}}}"


def bot_turns_key(keys: Keys, cid: ConversationId) -> str:
    """A conversation's recent answers to other bots (BOT_TURNS_PER_THREAD)."""
    return f"{keys.base}:botturns:{{{cid}}}"
