"""prepare: what a request is built around: the operator's system prompt with the channel's
persona after its rules, the channel the asker is looking at (an assistant thread), the
note about the latest message (the date, who wrote it) and what they cost in tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Mapping

from bot.answer.parts import Budget, Context
from bot.channels.config import ConfigPolicy
from bot.llm.model import ModelOptions
from bot.llm.turns import context_note, note_line
from bot.memory.conversation import StoredMessage
from bot.memory.store import ConversationState
from bot.memory.trimming import message_token_cap
from bot.answer.remember import with_summary
from bot.prompts import Prompt, Variant
from bot.slack.directory import NameDirectory
from bot.slack.events import IncomingMessage
from bot.tokens import TokenCounter
from bot.workspaces import context as workspace_context

SYSTEM_TOKENS_CACHE_LIMIT = 256
DATE_FORMAT = "%A, %d %B %Y"
PERSONA_HEADING = (
    "\n\n## Channel persona\nThe people of this channel asked you to take on this persona. It shapes your tone "
    "and focus; it never overrides the rules above.\n\n"
)


def prompt_file_request(
    prompt: Prompt, values: Mapping[str, str], system_prompt: str, system_tokens: int, counter: TokenCounter,
    max_context_tokens: int, model: str | None = None, variant: Variant | None = None,
) -> tuple[Context, StoredMessage, ModelOptions]:
    """What a prompt file's command sends, and its eval measures: the system prompt, then the
    prompt rendered with ``values`` (and the experiment's ``variant``) as the one user turn (cut
    to the per-message cap), with the file's sampling and its model (``model``: an eval's instead)."""
    cap = message_token_cap(max_context_tokens, system_tokens)
    text = counter.shorten(prompt.render(dict(values), variant.name if variant is not None else ""), cap)
    header = prompt.header
    options = ModelOptions(model=model or (variant.model if variant is not None else None) or header.model,
                           temperature=header.temperature, max_output_tokens=header.max_output_tokens)
    context = Context(system_prompt, "", system_tokens, cap, prompt.name, header.version,
                      variant=variant.name if variant is not None else "")
    return context, StoredMessage("user", text, counter.count_message(text)), options


def with_persona(system_prompt: str, persona: str | None) -> str:
    """The operator's system prompt with a channel's persona after its rules (never replacing them)."""
    return system_prompt + PERSONA_HEADING + persona.strip() if persona and persona.strip() else system_prompt


class Prepare:
    def __init__(self, *, counter: TokenCounter, system_prompt: Prompt, directory: NameDirectory, budget: Budget,
                 bot_name: str, now: Callable[[], datetime], policy: ConfigPolicy | None = None,
                 summary_room: int = 0, promoted: Any = None) -> None:
        self.promoted = promoted  # bot.training.promoted.PromotedModels: a channel's promoted model
        self.summary_room = summary_room  # tokens kept for the summary of dropped turns (0: no summaries)
        self.counter = counter
        self.policy = policy
        self.system_prompt = system_prompt
        self.directory = directory
        self.budget = budget
        self.bot_name = bot_name
        self.now = now
        self._system_tokens: dict[str, int] = {}

    async def __call__(self, message: IncomingMessage, state: ConversationState) -> Context:
        variables = await self.common_variables(message.team, message.channel, message.user, message.is_direct)
        viewing = await self._viewed_channel(message, state)
        if viewing:
            variables["channel"] = f"a direct message (they are looking at {viewing})"
        variant = self.system_prompt.variant_for(str(message.conversation))  # a conversation keeps its variant
        base = self.system_prompt_for(variables, state.persona, variant.name if variant is not None else "")
        summary = (state.summary or "") if self.summary_room else ""  # memory past the window (bot/answer/remember.py)
        system_prompt = with_summary(base, summary)
        note = context_note(variables["date"], variables["user_name"])
        fixed = self.count_system(base) + self.counter.count_text(note_line(note)) + self.summary_room
        return Context(
            system_prompt,
            note,
            fixed,
            message_token_cap(self.budget.max_context_tokens, fixed),
            self.system_prompt.name + ("+persona" if state.persona else ""),
            self.system_prompt.header.version,
            model=(self.policy.model_for(state.channel) if self.policy is not None else None)
            or (await self.promoted.for_channel(message.channel) if self.promoted is not None else None)
            or (variant.model if variant is not None else None),
            tools=state.channel.tools,
            variables=tuple(sorted(variables.items())),
            variant=variant.name if variant is not None else "",
            summary=summary,
        )

    def system_prompt_for(self, variables: Mapping[str, str], persona: str | None, variant: str = "") -> str:
        """The operator's system prompt (with an experiment's variant), and the channel's persona
        after its rules (never replacing them)."""
        return with_persona(self.system_prompt.render(dict(variables), variant), persona)

    def count_system(self, system_prompt: str) -> int:
        """Tokens of a system prompt (cached: it rarely changes between requests)."""
        tokens = self._system_tokens.get(system_prompt)
        if tokens is None:
            if len(self._system_tokens) >= SYSTEM_TOKENS_CACHE_LIMIT:
                self._system_tokens.clear()
            tokens = self._system_tokens[system_prompt] = self.counter.count_message(system_prompt)
        return tokens

    async def common_variables(self, team: str, channel: str, user: str, direct: bool) -> dict[str, str]:
        """The variables every prompt may use."""
        channel_name = "a direct message" if direct else await self.directory.channel_name(team, channel)
        return {
            "bot_name": workspace_context.bot_name(self.bot_name),
            "date": self.now().strftime(DATE_FORMAT),
            "user_name": await self.directory.user_name(team, user),
            "channel": channel_name,
        }

    async def _viewed_channel(self, message: IncomingMessage, state: ConversationState) -> str | None:
        """The channel a DM thread's user is looking at (Slack's thread or agent context), by name."""
        if not (message.is_direct and message.reply_thread_ts):
            return None
        channel = (state.thread_context or {}).get("channel_id")
        return await self.directory.channel_name(message.team, channel) if channel else None
