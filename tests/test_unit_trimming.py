"""Trimming is a pure function over stored token counts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.memory.conversation import StoredMessage
from bot.tokens import TOKENS_PER_MESSAGE
from bot.memory.trimming import build_request, drop_count, fixed_tokens, message_token_cap, plan_window, request_tokens


def turns(*counts: int, first_role: str = "user") -> list[StoredMessage]:
    roles = ["user", "assistant"] if first_role == "user" else ["assistant", "user"]
    return [StoredMessage(roles[i % 2], f"m{i}", n) for i, n in enumerate(counts)]  # type: ignore[arg-type]


def test_nothing_is_dropped_while_everything_fits():
    assert drop_count([10, 10, 10], fixed=20, budget=50, target_ratio=0.7) == 0


def test_over_budget_drops_down_to_the_target_in_one_chunk():
    counts = [10] * 10  # 100 + fixed 10 = 110 > 100
    drop = drop_count(counts, fixed=10, budget=100, target_ratio=0.7)
    assert drop == 4  # 10 + 60 = 70 <= 70
    assert 10 + sum(counts[drop:]) <= 70


def test_the_newest_message_is_never_dropped():
    assert drop_count([50, 50, 500], fixed=10, budget=100, target_ratio=0.7) == 2


def test_window_does_not_start_with_an_orphaned_answer():
    messages = turns(10, 10, 10, 10, 10, 10, 10)
    drop = plan_window(messages, system_prompt_tokens=7, budget=70, target_ratio=0.7)
    assert messages[drop].role == "user"
    assert request_tokens(messages[drop:], 7) <= 70


def test_message_cap_leaves_room_for_the_system_prompt():
    cap = message_token_cap(budget=1000, system_prompt_tokens=100)
    assert fixed_tokens(100) + cap + TOKENS_PER_MESSAGE == 1000


def test_request_puts_the_system_prompt_first():
    request = build_request("be nice", turns(3, 3))
    assert request[0] == {"role": "system", "content": "be nice"}
    assert [m["role"] for m in request[1:]] == ["user", "assistant"]


@settings(max_examples=300, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=4, max_value=400), min_size=1, max_size=200),
    system=st.integers(min_value=10, max_value=300),
    ratio=st.floats(min_value=0.3, max_value=1.0),
)
def test_window_always_fits_when_each_message_fits(counts, system, ratio):
    budget = 1000
    cap = message_token_cap(budget, system) + 3
    counts = [min(c, cap) for c in counts]
    messages = turns(*counts)
    drop = plan_window(messages, system, budget, ratio)
    kept = messages[drop:]
    assert kept and kept[-1] is messages[-1]
    assert request_tokens(kept, system) <= budget


def test_prefix_stays_stable_for_many_turns():
    """Simulate a long thread: the first kept turn changes only when a chunk is dropped."""
    window: list[StoredMessage] = []
    changes, first = 0, None
    for n in range(400):
        window.append(StoredMessage("user" if n % 2 == 0 else "assistant", f"t{n}", 40))  # type: ignore[arg-type]
        drop = plan_window(window, 100, 2000, 0.7)
        window = window[drop:]
        if window[0] is not first:
            changes += 1
            first = window[0]
    assert changes <= 400 / 10
