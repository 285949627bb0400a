"""Delivery's own Redis keys (from the store's versioned base): process-level keys in one
slot, and a user's flood count in theirs."""

from __future__ import annotations

from bot.memory.conversation import Keys


def delivery_key(keys: Keys, part: str) -> str:
    """Process-level delivery keys (workers, what each holds, work waiting for room, inboxes, Stop), all in one slot."""
    return f"{keys.base}:{{delivery}}:{part}"


def flood_key(keys: Keys, team: str, user: str) -> str:
    """A user's recently answered messages (the flood limit)."""
    return f"{keys.base}:flood:{{{team}:{user}}}"
