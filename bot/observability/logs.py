"""Log lines as JSON (``LOG_FORMAT=json``): one object per line with the time, level, logger
and message, and for each answer its ``answer`` fields (conversation, prompt and version,
model, tokens, cost, latency, outcome).  Message text is never among them."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

ANSWER_FIELD = "answer"  # the ``extra`` key the responder puts an answer's fields under


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, ANSWER_FIELD, None)
        if isinstance(fields, dict):
            line[ANSWER_FIELD] = fields
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__  # the kind only: exception text can hold message content
        return json.dumps(line, ensure_ascii=False, default=str)
