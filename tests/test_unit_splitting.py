"""Splitting long answers into Slack-sized messages: examples and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.splitting import MIN_MESSAGE_BYTES, open_fence_after, split_message, split_pieces


def size(text: str) -> int:
    return len(text.encode("utf-8"))



def test_split_keeps_short_text_whole():
    assert split_message("hello") == ["hello"]


def test_split_prefers_paragraphs_and_loses_nothing():
    text = "\n\n".join(f"para {n} " + "x" * 900 for n in range(10))
    chunks = split_message(text, max_bytes=3000)
    assert "".join(chunks) == text
    assert all(len(c.encode()) <= 3000 for c in chunks)
    assert all(c.endswith("\n\n") for c in chunks[:-1])


def test_split_counts_bytes_not_characters():
    text = "日本語 " * 2000
    chunks = split_message(text, max_bytes=3000)
    assert all(len(c.encode()) <= 3000 for c in chunks)
    assert "".join(chunks) == text


def test_split_closes_and_reopens_a_code_fence():
    code = "```python\n" + "".join(f"print({n})\n" for n in range(800)) + "```\n"
    chunks = split_message("Intro\n\n" + code, max_bytes=2000)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.count("```") % 2 == 0, "every chunk's fences are balanced"
    assert chunks[1].startswith("```python\n")


def test_split_reopens_a_fence_with_its_language_and_closes_on_its_own_line():
    code = "```js\n" + "x = 1;\n" * 600 + "```"
    chunks = split_message(code, max_bytes=1000)
    assert all(c.startswith("```js\n") for c in chunks)
    assert all(c.endswith("\n```") for c in chunks)
    assert "\n\n```" not in "".join(chunks), "no blank line is added before a closing fence"


def test_split_never_cuts_a_fence_line():
    text = "a" * 950 + "\n```python\nprint(1)\n```\n" + "b " * 600
    for piece in split_pieces(text, max_bytes=1000):
        assert not piece.body.startswith("python")
        assert not piece.body.endswith("``")


def test_split_rejects_a_limit_too_small_for_a_fence():
    with pytest.raises(ValueError):
        split_message("x" * 1000, max_bytes=MIN_MESSAGE_BYTES - 1)


# --- properties -----------------------------------------------------------------------------

words = st.text(alphabet=st.sampled_from("abc xyz é日👋*_`~<>&|-#"), min_size=10, max_size=160)
fence_lines = st.sampled_from(["```", "```python", "  ```", "```js extra words", "````"])
lines = st.one_of(words, words, words, fence_lines, st.just(""))
markdown_texts = st.lists(lines, min_size=40, max_size=160).map("\n".join)
limits = st.integers(min_value=MIN_MESSAGE_BYTES, max_value=1200)


@settings(max_examples=300, deadline=None)
@given(text=markdown_texts, max_bytes=limits)
def test_splitting_never_loses_a_character(text, max_bytes):
    pieces = split_pieces(text, max_bytes)
    assert "".join(p.body for p in pieces) == text
    for piece in pieces:
        assert piece.text == piece.reopen + piece.body + piece.close
        assert piece.reopen in ("",) or open_fence_after(piece.reopen) is not None  # only a fence line is added
        assert piece.close in ("", "```", "\n```")


@settings(max_examples=300, deadline=None)
@given(text=markdown_texts, max_bytes=limits)
def test_every_message_fits_and_leaves_no_fence_open(text, max_bytes):
    chunks = split_message(text, max_bytes)
    assert all(size(chunk) <= max_bytes for chunk in chunks)
    assert text == "" or all(chunk for chunk in chunks)
    for chunk in chunks[:-1]:
        assert open_fence_after(chunk) is None, "a fence left open by a cut is closed in the same message"
    # The last message is as closed as the answer itself was.
    assert (open_fence_after(chunks[-1]) is None) == (open_fence_after(text) is None)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=3000), max_bytes=limits)
def test_any_text_splits_without_loss_within_the_limit(text, max_bytes):
    pieces = split_pieces(text, max_bytes)
    assert "".join(p.body for p in pieces) == text
    assert all(size(p.text) <= max_bytes for p in pieces)


@settings(max_examples=200, deadline=None)
@given(text=markdown_texts, shown_share=st.floats(min_value=0, max_value=1), max_bytes=limits)
def test_continuing_after_a_streamed_prefix_loses_nothing_and_closes_fences(text, shown_share, max_bytes):
    from bot.slack.splitting import FENCE, continue_after

    shown = text[: int(len(text) * shown_share)]
    still_open = open_fence_after(shown)
    closing, follow_ups = continue_after(shown, text, max_bytes)
    assert closing == ("" if still_open is None else FENCE if shown.endswith("\n") else "\n" + FENCE)
    assert open_fence_after(shown + closing) is None
    pieces = split_pieces(text[len(shown):], max_bytes, open_fence=still_open) if len(shown) < len(text) else []
    assert [p.text for p in pieces] == follow_ups
    assert "".join(p.body for p in pieces) == text[len(shown):], "nothing lost after the streamed part"
    assert all(size(m) <= max_bytes for m in follow_ups)
    if follow_ups and still_open:
        assert follow_ups[0].startswith(still_open + "\n"), "the fence is reopened in the next message"
    for message in follow_ups[:-1]:
        assert open_fence_after(message) is None


@settings(max_examples=100, deadline=None)
@given(text=markdown_texts, max_bytes=limits)
def test_first_message_is_the_first_of_the_split(text, max_bytes):
    from bot.slack.splitting import first_message

    assert first_message(text, max_bytes) == split_message(text, max_bytes)[0]


def test_retry_after_is_read_in_any_header_case_and_shape():
    from bot.slack.rate_budget import retry_after_seconds

    assert retry_after_seconds({"Retry-After": "7"}) == 7.0
    assert retry_after_seconds({"retry-after": ["3"]}) == 3.0
    assert retry_after_seconds({}) == 1.0 and retry_after_seconds({"Retry-After": "soon"}) == 1.0
