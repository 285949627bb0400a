"""moderate: the asker's message checked before anything is shown or the model asked, and the
answer before it is shown (MODERATION).  Flagged input gets one private sentence and no model
call; a flagged answer is replaced by a sentence, which is also what the conversation keeps."""

from __future__ import annotations

import dataclasses
from typing import Any, Awaitable, Callable

from bot.answer.generate import Generated
from bot.guardrails.moderation import Moderator, Verdict
from bot.guardrails.writers import Moderated
from bot.slack.events import IncomingMessage
from bot.wording import FLAGGED_ANSWER, FLAGGED_INPUT


class Moderate:
    def __init__(self, *, moderator: Moderator | None, note: Callable[[IncomingMessage, str], Awaitable[None]]) -> None:
        self.moderator = moderator
        self.note = note

    @property
    def inputs(self) -> bool:
        return self.moderator is not None and self.moderator.inputs

    def shown_as(self, reply: Any) -> Any:
        """The reply, showing an answer only as far as moderation passed it (MODERATION=output)."""
        if self.moderator is None or not self.moderator.outputs:
            return reply
        moderator = self.moderator
        return Moderated(reply, lambda text: moderator.check([text], "output"))

    async def refused(self, message: IncomingMessage, text: str, *, tell: Callable[[str], Awaitable[None]] | None = None
                      ) -> bool:
        """Whether the asker's message is flagged (they are told privately, and it is audited)."""
        if self.moderator is None or not self.moderator.inputs:
            return False
        verdict = await self.moderator.check([text], "input")
        if not verdict.flagged:
            return False
        await self._audit(message, verdict, "input")
        await (tell(FLAGGED_INPUT) if tell is not None else self.note(message, FLAGGED_INPUT))
        return True

    async def output(self, message: IncomingMessage, reply: Any, generated: Generated) -> Generated:
        """The answer, or the sentence in its place when it is flagged."""
        if self.moderator is None or not self.moderator.outputs or not generated.text:
            return generated
        verdict = await (reply.verdict(generated.text) if isinstance(reply, Moderated)
                         else self.moderator.check([generated.text], "output"))
        if not verdict.flagged:
            return generated
        await self._audit(message, verdict, "output")
        return dataclasses.replace(generated, text=FLAGGED_ANSWER, answer_from=0, stopped=False)

    async def _audit(self, message: IncomingMessage, verdict: Verdict, direction: str) -> None:
        assert self.moderator is not None
        await self.moderator.flagged(verdict, direction, team=message.team, user=message.user, channel=message.channel)
