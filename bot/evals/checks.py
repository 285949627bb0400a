"""The checks of a case, applied to one answer.  Pure, except the judge (a model call)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from dataclasses import dataclass
from typing import Any

import jsonschema

from bot.evals.cases import Check

QUOTE_CHARS = 60
JUDGE_PROMPT = Path(__file__).with_name("judge.md")  # the judge of `bot eval` and of online evaluation
JUDGEMENT = re.compile(r"[\W_]*(PASS|FAIL)\b[*_]*", re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str = ""  # why it failed (or the judge's reason)


def check_text(check: Check, answer: str, *, output_tokens: int, latency_ms: float) -> Verdict:
    """Every check but ``judge``."""
    kind, value = check.kind, check.value
    if kind == "contains":
        return _verdict(value in answer, f"does not contain {_quote(value)}")
    if kind == "icontains":
        return _verdict(value.casefold() in answer.casefold(), f"does not contain {_quote(value)} (any case)")
    if kind == "not_contains":
        return _verdict(value not in answer, f"contains {_quote(value)}")
    if kind == "equals":
        return _verdict(answer.strip() == value.strip(), f"is not {_quote(value)}")
    if kind == "not_equals":
        return _verdict(answer.strip() != value.strip(), "is the same as the reference answer")
    if kind == "regex":
        return _verdict(re.search(value, answer) is not None, f"does not match /{value}/")
    if kind == "max_tokens":
        return _verdict(output_tokens <= value, f"{output_tokens} tokens, more than {value}")
    if kind == "max_latency_ms":
        return _verdict(latency_ms <= value, f"took {latency_ms:.0f} ms, more than {value}")
    if kind == "json_schema":
        return _json_schema(value, answer)
    raise ValueError(f"not a text check: {kind}")


def parse_judgement(text: str) -> Verdict:
    """The judge's reply: PASS or FAIL first (markdown around it is fine), the reason after it."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return Verdict(False, "the judge gave no answer")
    found = JUDGEMENT.match(lines[0])
    if found is None:
        return Verdict(False, f"the judge did not answer PASS or FAIL ({_quote(lines[0])})")
    rest = lines[0][found.end():].lstrip(" *:-—").rstrip(" *")
    reason = " ".join([rest] * bool(rest) + lines[1:])
    if found.group(1).upper() == "PASS":
        return Verdict(True, reason)
    return Verdict(False, reason or "the judge said FAIL")


def _json_schema(schema: dict[str, Any], answer: str) -> Verdict:
    text = answer.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.DOTALL)  # a model may fence its JSON
    try:
        data = json.loads(fenced.group(1) if fenced else text)
    except ValueError:
        return Verdict(False, "is not JSON")
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as exc:
        return Verdict(False, f"does not match the schema: {exc.message[:120]}")
    except jsonschema.SchemaError as exc:
        return Verdict(False, f"the case's schema is invalid: {exc.message[:120]}")
    return Verdict(True)


def _verdict(ok: bool, reason: str) -> Verdict:
    return Verdict(True) if ok else Verdict(False, reason)


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…")
