"""Exporting 👍/👎 feedback for evaluation work: one JSON object per line, or the 👎-rated
answers as evaluation cases (``python -m bot eval``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping, TextIO

import yaml

from bot.memory.conversation import ConversationId, StoredMessage
from bot.memory.store import ConversationStore
from bot.memory.trimming import build_request

EXPORTED_FIELDS = ("question", "answer", "rating")


def export_record(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A stored feedback entry as an export line: question, answer, rating, and the rest as metadata."""
    metadata = {k: v for k, v in entry.items() if k not in EXPORTED_FIELDS}
    return {"question": entry.get("question", ""), "answer": entry.get("answer", ""), "rating": entry.get("rating"),
            "metadata": dict(sorted(metadata.items()))}


@dataclass(frozen=True)
class Selection:
    """Which ratings an export takes: one workspace's (``team``; None: every workspace's),
    and those from DMs, group DMs and private channels only when asked for.  A rating
    saved before privacy was recorded counts as private."""

    team: str | None = None
    include_private: bool = False

    def takes(self, entry: Mapping[str, Any]) -> bool:
        if self.team is not None and entry.get("team") != self.team:
            return False
        return self.include_private or entry.get("private") is False


async def selected(store: ConversationStore, selection: Selection) -> list[dict[str, Any]]:
    return [entry async for entry in store.all_feedback() if selection.takes(entry)]


async def export_feedback(store: ConversationStore, out: TextIO, selection: Selection = Selection()) -> int:
    """Write every selected rating (those still inside the retention period) as JSONL; returns the count."""
    records = [export_record(entry) for entry in await selected(store, selection)]
    records.sort(key=lambda r: (str(r["metadata"].get("rated_at", "")), str(r["metadata"].get("message_ts", ""))))
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(records)


EVAL_RUBRIC = "FILL IN: what a good answer to this does (this answer was rated 👎; describe what it got wrong)"
CONTEXT_TURNS = 20  # most earlier turns kept as a case's messages


def conversation_of(entry: Mapping[str, Any]) -> ConversationId | None:
    """The rated answer's conversation, from the entry's ``team:channel:thread``."""
    parts = str(entry.get("conversation") or "").split(":")
    return ConversationId(*parts) if len(parts) == 3 and all(parts) else None


def eval_case(entry: Mapping[str, Any], context: list[StoredMessage]) -> dict[str, Any]:
    """A 👎-rated answer as an evaluation case: the conversation before it (or its question) as
    ``messages``, the answer as a ``not_equals`` reference, and a judge rubric to fill in."""
    messages = [{"role": turn.role, "content": turn.content} for turn in context if turn.role in ("user", "assistant")]
    messages = messages[-CONTEXT_TURNS:]
    while messages and messages[0]["role"] != "user":
        messages.pop(0)
    if not messages or messages[-1]["role"] != "user":
        messages = [{"role": "user", "content": str(entry.get("question") or "")}]
    where = f"{entry.get('channel', '')} {entry.get('answer_ts') or entry.get('message_ts', '')}".strip()
    return {"name": f"rated down: {where}", "messages": messages,
            "expect": [{"not_equals": str(entry.get("answer") or "")}, {"judge": EVAL_RUBRIC}]}


async def export_eval_cases(store: ConversationStore, out: TextIO, selection: Selection = Selection()) -> int:
    """Write every selected 👎 rating still kept as one evaluation case file (YAML); returns the count."""
    entries = [entry for entry in await selected(store, selection) if entry.get("rating") == "down" and entry.get("answer")]
    entries.sort(key=lambda e: (str(e.get("rated_at", "")), str(e.get("message_ts", ""))))
    cases = []
    for entry in entries:
        cid = conversation_of(entry)
        turns = (await store.load(cid)).messages if cid is not None else []
        answer_at = next((n for n, turn in enumerate(turns) if turn.role == "assistant" and turn.ts == entry.get("answer_ts")), None)
        cases.append(eval_case(entry, turns[:answer_at] if answer_at is not None else []))
        seen = {case["name"] for case in cases[:-1]}
        if cases[-1]["name"] in seen:
            cases[-1]["name"] += f" ({len(cases)})"
    out.write("# Answers rated 👎, exported by 'python -m bot feedback export --format eval'.\n"
              "# Fill in each judge rubric, then run: python -m bot eval <this file>\n")
    if cases:
        out.write(yaml.safe_dump({"cases": cases}, sort_keys=False, allow_unicode=True, width=100))
    return len(cases)


def sent_request(turns: list[StoredMessage], entry: Mapping[str, Any], system_prompt: str) -> list[dict[str, Any]] | None:
    """The request the bot sent for the rated answer, rebuilt byte for byte from what its record
    kept (the window's first turn and length, the closing note) and the stored turns; None when
    that window is no longer kept (trimmed since) or the record predates it."""
    request = entry.get("request")
    if not isinstance(request, Mapping) or not request.get("turns"):
        return None
    at = next((n for n, turn in enumerate(turns) if turn.ts == request.get("from_ts")), None)
    if at is None:
        return None
    window = turns[at: at + int(request["turns"])]
    if len(window) != int(request["turns"]) or window[-1].role != "user":
        return None
    return build_request(system_prompt, window, str(request.get("note") or ""), str(request.get("knowledge") or ""))


async def export_datasets(store: ConversationStore, out: TextIO, *, fmt: str,
                          system_prompt: Callable[[Mapping[str, Any]], str | None],
                          selection: Selection = Selection()) -> int:
    """👍-rated exchanges as OpenAI fine-tuning chat lines (``openai-chat``), or preference pairs
    (``preference``): a 👎 answer and the answer the same person then rated 👍 in its place.
    Each example's messages are the very request the bot sent (what the model is trained on is
    what it is served); ``system_prompt(entry)`` renders it again, None when it changed since."""
    entries = [entry for entry in await selected(store, selection) if entry.get("answer")]
    entries.sort(key=lambda e: (str(e.get("rated_at", "")), str(e.get("message_ts", ""))))
    cached: dict[str, list[StoredMessage]] = {}
    count = 0

    async def context_of(entry: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        cid = conversation_of(entry)
        system = system_prompt(entry)
        if cid is None or system is None:
            return None
        if str(cid) not in cached:
            cached[str(cid)] = (await store.load(cid)).messages
        return sent_request(cached[str(cid)], entry, system)

    if fmt == "openai-chat":
        for entry in entries:
            if entry.get("rating") != "up":
                continue
            context = await context_of(entry)
            if context is None:
                continue
            out.write(json.dumps({"messages": [*context, {"role": "assistant", "content": entry["answer"]}]},
                                 ensure_ascii=False) + "\n")
            count += 1
        return count
    pairs: dict[tuple[str, str, str], dict[str, Mapping[str, Any]]] = {}
    for entry in entries:
        key = (str(entry.get("conversation")), str(entry.get("answer_ts")), str(entry.get("rated_by")))
        pairs.setdefault(key, {})[str(entry.get("rating"))] = entry
    for pair in pairs.values():
        down, up = pair.get("down"), pair.get("up")
        if down is None or up is None or down.get("answer") == up.get("answer"):
            continue
        context = await context_of(up)
        if context is None:
            continue
        out.write(json.dumps({"input": {"messages": context},
                              "preferred_output": [{"role": "assistant", "content": up["answer"]}],
                              "non_preferred_output": [{"role": "assistant", "content": down["answer"]}]},
                             ensure_ascii=False) + "\n")
        count += 1
    return count
