"""Pure functions that keep a model request inside its token budget.

Every stored message carries its token count, so trimming only adds numbers:
its cost grows with the turns kept, never with the thread's length, and
nothing is re-tokenised.

When the budget is exceeded the oldest turns are dropped in one chunk, down to
``target_ratio`` of the budget, rather than one per turn.  Between trims the
request keeps a byte-identical prefix (system prompt + the same oldest turns),
which is what OpenAI's prompt caching needs to keep discounting it.

Counts follow the OpenAI cookbook: every message costs its content, 3 tokens of
framing and its role; every request 3 more to prime the reply.
"""

from __future__ import annotations

from typing import Any, Sequence

from bot.llm.turns import chat_request
from bot.memory.conversation import StoredMessage
from bot.tokens import TOKENS_PER_MESSAGE, TOKENS_TO_PRIME_REPLY


def fixed_tokens(system_prompt_tokens: int) -> int:
    """Tokens every request spends besides the history: system prompt and reply priming."""
    return system_prompt_tokens + TOKENS_TO_PRIME_REPLY


def message_token_cap(budget: int, system_prompt_tokens: int) -> int:
    """The most content tokens a single message may have so that it fits with the system prompt."""
    return max(budget - fixed_tokens(system_prompt_tokens) - TOKENS_PER_MESSAGE, 1)


def drop_count(counts: Sequence[int], fixed: int, budget: int, target_ratio: float) -> int:
    """How many of the oldest messages to drop so the request fits ``budget``.

    ``counts`` are the token counts of the stored window, oldest first, the new
    message last.  Returns 0 while everything fits.  Otherwise drops down to
    ``target_ratio * budget`` (never the newest message), and never leaves an
    assistant turn first in the window.
    """
    total = fixed + sum(counts)
    if total <= budget or len(counts) <= 1:
        return 0
    target = min(int(budget * target_ratio), budget)
    drop = 0
    last = len(counts) - 1
    while drop < last and total > target:
        total -= counts[drop]
        drop += 1
    return drop


def drop_leading_assistant(messages: Sequence[StoredMessage], drop: int) -> int:
    """Extend a drop so the window does not begin with an orphaned assistant answer
    or tool result (a tool result without the call before it is a request the API refuses)."""
    last = len(messages) - 1
    while 0 < drop < last and messages[drop].role != "user":
        drop += 1
    return drop


def plan_window(
    messages: Sequence[StoredMessage], system_prompt_tokens: int, budget: int, target_ratio: float
) -> int:
    """Number of the oldest ``messages`` to drop before building the request."""
    drop = drop_count([m.tokens for m in messages], fixed_tokens(system_prompt_tokens), budget, target_ratio)
    return drop_leading_assistant(messages, drop) if drop else 0


def request_tokens(messages: Sequence[StoredMessage], system_prompt_tokens: int) -> int:
    """Tokens of the whole request: system prompt (and any note), history and priming."""
    return fixed_tokens(system_prompt_tokens) + sum(m.tokens for m in messages)


def build_request(system_prompt: str, messages: Sequence[StoredMessage], note: str = "", knowledge: str = ""
                  ) -> list[dict[str, Any]]:
    """The chat-completions ``messages`` list: system prompt first, then the window, with the
    note about the latest message (the date, who is speaking) in the latest user turn, in a
    shape every chat template accepts (bot/llm/turns.py).  What changes from one request to
    the next comes last, so the system prompt and the history stay a byte-identical prefix
    the provider can cache."""
    return chat_request(system_prompt, (m.as_chat() for m in messages), note, knowledge)
