"""redact: secrets and personal data out of what the model reads and Redis keeps (REDACT).

The asker's turn (files' text included), a thread read from Slack and a command's request
are redacted before ``generate``; tool results inside it, before the model reads them.  The
reply shows the placeholders' values again where REDACTION_KEY keeps them; the commit stores
the conversation's placeholders (sealed) and the findings are counted and audited, never a value."""

from __future__ import annotations

from typing import Any

from bot.guardrails.redaction import META_FIELD, Redaction, Redactor
from bot.guardrails.writers import Restoring
from bot.memory.batch import Batch
from bot.memory.conversation import Keys, StoredMessage
from bot.memory.store import ConversationState
from bot.slack.events import IncomingMessage
from bot.tokens import TokenCounter


class Redact:
    def __init__(self, *, redactor: Redactor | None, counter: TokenCounter, keys: Keys, audit: Any = None) -> None:
        self.redactor = redactor if redactor is not None and redactor.on else None
        self.counter = counter
        self.keys = keys
        self.audit = audit

    def guard(self, state: ConversationState | None = None) -> Redaction | None:
        """This job's redaction, continuing the conversation's placeholders (None: REDACT is empty)."""
        if self.redactor is None:
            return None
        return self.redactor.session(state.redaction if state is not None else None)

    def turns(self, guard: Redaction | None, turns: list[StoredMessage]) -> list[StoredMessage]:
        return [guard.turn(turn, self.counter.count_message) for turn in turns] if guard is not None else turns

    @staticmethod
    def shown_as(reply: Any, guard: Redaction | None) -> Any:
        """The reply, showing placeholders as their values where REDACTION_KEY keeps them."""
        return Restoring(reply, guard.restore) if guard is not None and guard.remember else reply

    def batch(self, message: IncomingMessage, guard: Redaction | None) -> Batch:
        """A batch for the job's commit, with the conversation's placeholders (sealed) and the findings."""
        batch = Batch()
        if guard is not None and self.redactor is not None and guard.changed:
            batch.command("HSET", self.keys.meta(message.conversation), META_FIELD, self.redactor.sealed(guard))
        self.findings_in(batch, message, guard)
        return batch

    def findings_in(self, batch: Batch, message: IncomingMessage, guard: Redaction | None) -> None:
        """The findings' counts, in the metrics and (with the commit) the audit log."""
        if guard is None or self.redactor is None or not guard.found:
            return
        self.redactor.counted(guard)
        if self.audit is not None:
            self.audit.record_in(batch, "redaction", team=message.team, user=message.user, channel=message.channel,
                                 **{kind: n for kind, n in sorted(guard.found.items())})
