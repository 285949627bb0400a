"""Exporting 👍/👎 feedback for evaluation work: one JSON object per line."""

from __future__ import annotations

import json
from typing import Any, Mapping, TextIO

from bot.memory.store import ConversationStore

EXPORTED_FIELDS = ("question", "answer", "rating")


def export_record(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A stored feedback entry as an export line: question, answer, rating, and the rest as metadata."""
    metadata = {k: v for k, v in entry.items() if k not in EXPORTED_FIELDS}
    return {"question": entry.get("question", ""), "answer": entry.get("answer", ""), "rating": entry.get("rating"),
            "metadata": dict(sorted(metadata.items()))}


async def export_feedback(store: ConversationStore, out: TextIO) -> int:
    """Write every stored rating (those still inside the retention period) as JSONL; returns the count."""
    records = [export_record(entry) async for entry in store.all_feedback()]
    records.sort(key=lambda r: (str(r["metadata"].get("rated_at", "")), str(r["metadata"].get("message_ts", ""))))
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(records)
