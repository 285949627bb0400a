"""Redaction before the model and before storage: secrets and personal data found in a turn
are replaced by placeholders (``[secret 1]``, ``[email 2]``), numbered per conversation.

With ``REDACTION_KEY`` the conversation keeps a map from each placeholder back to its value,
encrypted with that key in the conversation's meta hash (read with the conversation, written
with its commit, gone with it): a value seen again gets the same placeholder, and the answer
is shown with the values back in place, only in that conversation.  Without the key only the
counts are kept, and the placeholders stay in the answer.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from bot.guardrails.detectors import Finding, find, finders
from bot.memory.conversation import StoredMessage
from bot.workspaces.sealing import Sealer, opened_with

META_FIELD = "redaction"  # the conversation meta hash's field
PLACEHOLDER = re.compile(r"\[(secret|email|phone|card|iban) (\d+)\]")


@dataclass
class Redaction:
    """One conversation's placeholders while a job runs: what was found, and (with a key) the values."""

    detectors: Sequence[Callable[[str], Iterable[Finding]]]
    counts: Counter[str] = field(default_factory=Counter)  # the highest number given, per kind
    values: dict[str, str] = field(default_factory=dict)  # placeholder -> value (with a key only)
    remember: bool = False  # a key is set: values are kept (encrypted) and restored when shown
    found: Counter[str] = field(default_factory=Counter)  # this job's findings, per kind
    changed: bool = False

    def text(self, text: str) -> str:
        """``text`` with every value found replaced by its placeholder."""
        if not text or not self.detectors:
            return text
        findings = find(text, self.detectors)
        if not findings:
            return text
        by_value = {value: placeholder for placeholder, value in self.values.items()}
        out, at = [], 0
        for finding in findings:
            value = text[finding.start:finding.end]
            placeholder = by_value.get(value)
            if placeholder is None:
                self.counts[finding.kind] += 1
                placeholder = f"[{finding.kind} {self.counts[finding.kind]}]"
                by_value[value] = placeholder
                if self.remember:
                    self.values[placeholder] = value
                self.changed = True
            self.found[finding.kind] += 1
            out += [text[at:finding.start], placeholder]
            at = finding.end
        out.append(text[at:])
        return "".join(out)

    def turn(self, turn: StoredMessage, count: Callable[[str], int]) -> StoredMessage:
        content = self.text(turn.content)
        if content == turn.content:
            return turn
        return dataclasses.replace(turn, content=content, tokens=count(content))

    def restore(self, text: str) -> str:
        """``text`` with this conversation's placeholders turned back into their values (with a key)."""
        if not self.values or "[" not in text:
            return text
        return PLACEHOLDER.sub(lambda m: self.values.get(m.group(), m.group()), text)


class Redactor:
    """Makes each job's ``Redaction`` from the conversation's stored map, and seals it again."""

    def __init__(self, kinds: Sequence[str], *, keys: Sequence[str] = (), phone_region: str = "US",
                 metrics: Any = None) -> None:
        self.kinds = tuple(kinds)
        self.detectors = finders(self.kinds, phone_region)
        self.sealer = Sealer(keys) if keys else None
        self.metrics = metrics

    @property
    def on(self) -> bool:
        return bool(self.detectors)

    def session(self, stored: str | None = None) -> Redaction:
        """A job's redaction, continuing the conversation's (``stored``: its meta field, or None)."""
        redaction = Redaction(self.detectors, remember=self.sealer is not None)
        state = self._opened(stored)
        redaction.counts.update({str(k): int(v) for k, v in (state.get("n") or {}).items()})
        if self.sealer is not None:
            redaction.values.update({str(k): str(v) for k, v in (state.get("v") or {}).items()})
        return redaction

    def sealed(self, redaction: Redaction) -> str:
        """The value to store for ``redaction``: counts, and (encrypted) the values."""
        state: dict[str, Any] = {"n": dict(redaction.counts)}
        if self.sealer is None:
            return json.dumps(state, separators=(",", ":"))
        state["v"] = redaction.values
        return self.sealer.seal(json.dumps(state, separators=(",", ":")))

    def counted(self, redaction: Redaction) -> None:
        if self.metrics is not None:
            for kind, n in redaction.found.items():
                self.metrics.redactions.labels(kind=kind).inc(n)

    def _opened(self, stored: str | None) -> dict[str, Any]:
        if not stored:
            return {}
        text = opened_with(self.sealer, stored)  # "" when sealed with a key no longer set: numbering starts again
        try:
            state = json.loads(text) if text.startswith("{") else {}
        except ValueError:
            return {}
        return state if isinstance(state, dict) else {}
