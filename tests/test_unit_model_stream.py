"""The lean reader of the model's server-sent events: every way the bytes may be cut."""

from __future__ import annotations

import asyncio

import pytest

from bot.llm.model import LeanEvents

STREAM = (
    b'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n'
    b': a comment line is not an event\n\n'
    b'data: {"choices":[{"delta":{"content":"lo"}}]}\r\n\r\n'
    b'data: first line\ndata: second line\n\n'
    b'data: [DONE]\n\n'
)
EXPECTED = [b'{"choices":[{"delta":{"content":"Hel"}}]}', b'{"choices":[{"delta":{"content":"lo"}}]}',
            b"first line\nsecond line", b"[DONE]"]


async def _events(parts: list[bytes]) -> list[bytes]:
    async def chunks():
        for part in parts:
            yield part
    return [event async for event in LeanEvents().aiter_bytes(chunks())]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 64, len(STREAM)])
def test_events_are_the_same_however_the_bytes_arrive(size):
    parts = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert asyncio.run(_events(parts)) == EXPECTED


def test_a_last_event_without_its_blank_line_is_still_read():
    assert asyncio.run(_events([b'data: {"x":1}\n\ndata: {"y":2}'])) == [b'{"x":1}', b'{"y":2}']
