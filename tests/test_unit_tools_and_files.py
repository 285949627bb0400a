"""Pure parts of tools and files: stored tool turns, trimming around them, streamed call
deltas, tool selection, file kinds and image costs."""

from __future__ import annotations

import json

from bot.files.extract import DOCX, IMAGE, PDF, TEXT, Unreadable, decoded_text, image_tokens, kind_of
from bot.llm.model import ModelReply
from bot.llm.calls import ToolCall
from bot.memory.conversation import StoredMessage, answer_start
from bot.tokens import ROLE_TOKENS
from bot.memory.trimming import build_request, plan_window
from bot.tools.base import ToolSpec, model_name
from bot.tools.toolbox import Toolbox

CALL = ToolCall("call_1", "orders__lookup", '{"id": "A-1"}')


def turns() -> list[StoredMessage]:
    return [
        StoredMessage("user", "q1", 10),
        StoredMessage("assistant", "", 20, tool_calls=(CALL,)),
        StoredMessage("tool", "result", 30, tool_call_id="call_1"),
        StoredMessage("assistant", "a1", 10),
        StoredMessage("user", "q2", 10),
    ]


def test_tool_turns_survive_storage_and_become_the_chat_messages_openai_expects():
    for turn in turns():
        assert StoredMessage.from_json(turn.to_json()) == turn
    assert StoredMessage.many_from_json([t.to_json() for t in turns()]) == turns()
    assert turns()[1].as_chat() == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "orders__lookup", "arguments": '{"id": "A-1"}'}}]}
    assert turns()[2].as_chat() == {"role": "tool", "tool_call_id": "call_1", "content": "result"}
    plain = StoredMessage("user", "hi", 5, "1.5", "U1").to_json()
    assert json.loads(plain) == ["u", "hi", 5, "1.5", "U1"]  # compact: no field names, no tool fields


def test_turns_stored_in_the_older_form_are_still_read():
    old = ['{"r":"user","c":"hi","t":5,"ts":"1.5","u":"U1"}', '{"r":"assistant","c":"yo","n":3,"ts":"1.6","u":"UBOT"}',
           '{"r":"assistant","c":"","t":9,"ts":"","u":"","tc":[["c1","f","{}"]]}', '{"r":"tool","c":"r","t":4,"ci":"c1"}']
    new = StoredMessage("user", "again", 6, "1.7", "U1").to_json()
    assert StoredMessage.many_from_json([*old, new]) == [
        StoredMessage("user", "hi", 5, "1.5", "U1"), StoredMessage("assistant", "yo", 3 + ROLE_TOKENS, "1.6", "UBOT"),
        StoredMessage("assistant", "", 9, tool_calls=(ToolCall("c1", "f", "{}"),)),
        StoredMessage("tool", "r", 4, tool_call_id="c1"), StoredMessage("user", "again", 6, "1.7", "U1")]


def test_trimming_never_leaves_a_tool_result_without_its_call():
    window = turns()
    for budget in range(40, 120, 5):
        drop = plan_window(window, 0, budget, 0.7)
        assert window[drop].role == "user", (budget, drop)
    request = build_request("system", window[plan_window(window, 0, 60, 0.7):])
    assert [m["role"] for m in request] == ["system", "user"]


def test_the_latest_answer_starts_after_the_last_question():
    assert answer_start(turns()[:4]) == 1
    assert answer_start(turns()) == 5
    assert answer_start([]) == 0


def test_streamed_call_pieces_add_up_to_whole_calls():
    reply = ModelReply()
    for delta in [{"index": 0, "id": "c0", "function": {"name": "a", "arguments": ""}},
                  {"index": 1, "id": "c1", "function": {"name": "b", "arguments": '{"x"'}},
                  {"index": 0, "function": {"arguments": '{"q": '}},
                  {"index": 0, "function": {"arguments": '1}'}},
                  {"index": 1, "function": {"arguments": ": 2}"}}]:
        reply.add_call_delta(delta)
    assert reply.tool_calls == [ToolCall("c0", "a", '{"q": 1}'), ToolCall("c1", "b", '{"x": 2}')]


class Listing:
    def __init__(self, *specs: ToolSpec) -> None:
        self.specs = list(specs)

    def tools(self) -> list[ToolSpec]:
        return self.specs

    async def call(self, spec, arguments, context):  # pragma: no cover - selection only
        raise AssertionError


def test_patterns_select_tools_by_name_server_or_all():
    builtin = ToolSpec("current_time", "", {})
    search = ToolSpec(model_name("orders", "search"), "", {}, source="orders", original="search")
    refund = ToolSpec(model_name("orders", "refund"), "", {}, source="orders", original="refund")
    other = ToolSpec(model_name("docs", "search"), "", {}, source="docs", original="search")
    box = Toolbox([Listing(builtin), Listing(search, refund), Listing(other)])
    names = lambda patterns: [s.name for s in box.select(patterns)]  # noqa: E731
    assert names(["orders:*"]) == ["orders__search", "orders__refund"]
    assert names(["orders:refund", "current_time"]) == ["current_time", "orders__refund"]
    assert names(["*"]) == ["current_time", "orders__search", "orders__refund", "docs__search"]
    assert names([]) == [] and names(["nothing:*"]) == []
    assert model_name("my server", "do.it!") == "my_server__do_it_"


def test_file_kinds_by_name_type_and_slack_file_type():
    assert kind_of("report.PDF", "", "") == PDF
    assert kind_of("notes.docx", "application/octet-stream", "") == DOCX
    assert kind_of("chart", "image/png", "png") == IMAGE
    assert kind_of("Untitled", "text/plain", "python") == TEXT  # a snippet
    assert kind_of("Plan", "application/vnd.slack-docs", "quip") == TEXT  # a canvas
    assert kind_of("deck.key", "application/x-iwork-keynote-sffkey", "keynote") is None
    assert kind_of("logo.svg", "image/svg+xml", "svg") is None


def test_text_decoding_and_image_costs():
    assert decoded_text("café".encode()) == "café"
    assert decoded_text("\ufeffbom".encode("utf-8")) == "bom"
    try:
        decoded_text(b"\x00\x01binary")
        raise AssertionError("binary was read as text")
    except Unreadable as problem:
        assert str(problem) == "it is not a text file"
    assert image_tokens(512, 512) == 85 + 170
    assert image_tokens(2048, 1024) == 85 + 170 * 2 * 3  # fitted to 1536 x 768: 3 x 2 tiles


async def test_the_file_pool_replaces_a_worker_that_died_while_idle_or_hit_its_memory_limit():
    """Real worker processes: one killed between files (not yet reaped), and one that ran out of
    memory on a bomb and ends; the next file is read either way."""
    from bot.files.sandbox import ExtractionPool, SandboxLimits

    from .fakes import documents

    pool = ExtractionPool(SandboxLimits(workers=1))
    try:
        assert (await pool.extract("a.txt", TEXT, b"one")).text == "one"
        [worker] = pool._idle
        worker.process.kill()  # dies while idle: the next file must not be lost with it
        assert (await pool.extract("b.txt", TEXT, b"two")).text == "two"
        try:
            await pool.extract("bomb.docx", DOCX, documents.docx_bomb())
            raise AssertionError("the bomb was read")
        except Unreadable as problem:
            assert str(problem) == "it is too large to read"
        assert (await pool.extract("c.txt", TEXT, b"three")).text == "three"
    finally:
        await pool.close()
