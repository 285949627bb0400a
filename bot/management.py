"""The management command (``/assistant`` by default): help, reset, config, persona, usage, model, tools.

Every subcommand answers at once, so its text is the slash command's ack.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from redis.exceptions import RedisError

from bot.operations.audit import AuditLog
from bot.channels.command import ChannelSettings
from bot.channels.config import MAX_PERSONA_CHARS, ConfigPolicy
from bot.commands import CommandRequest
from bot.schedules.command import ScheduleCommands
from bot.slack.directory import NameDirectory
from bot.prompts import PromptCatalog
from bot.memory.store import ConversationStore
from bot.usage.ledger import Ledger, Totals, usage_report
from bot.usage.quotas import QuotaLimits, remaining_lines
from bot.wording import NOT_ALLOWED_TO_RESET, STORE_FAILED


def totals_line(label: str, totals: Totals) -> str:
    cost = f", ${totals.cost_usd:,.4f}" + (" (some calls unpriced)" if totals.unpriced_calls else "") if totals.calls else ""
    return f"{label}: {totals.tokens:,} tokens ({totals.input_tokens:,} in, {totals.output_tokens:,} out){cost}"


class Management:
    def __init__(
        self,
        *,
        command: str,
        catalog: PromptCatalog,
        store: ConversationStore,
        directory: NameDirectory,
        admins: frozenset[str],
        default_model: str,
        now: Callable[[], datetime],
        tools: Callable[[str], str] = lambda team: "",
        ledger: Ledger | None = None,
        quotas: QuotaLimits = QuotaLimits(),
        policy: ConfigPolicy | None = None,
        schedules: ScheduleCommands | None = None,
        audit: AuditLog | None = None,
        learning: Any = None,  # /assistant learn (bot.knowledge.learn.Learning; None: KNOWLEDGE=false)
    ) -> None:
        self.schedules, self.learning = schedules, learning
        self.audit = audit
        self.policy = policy or ConfigPolicy(default_model)
        self.settings = ChannelSettings(command=command, store=store, policy=self.policy, quotas=quotas, audit=audit)
        self.ledger = ledger
        self.quotas = quotas
        self.tools = tools  # the tools overview for a workspace (bot.tools.overview)
        self.command = command
        self.catalog = catalog
        self.store = store
        self.directory = directory
        self.admins = admins
        self.default_model = default_model
        self.now = now

    async def handle(self, request: CommandRequest) -> str:
        word, _, rest = request.text.strip().partition(" ")
        word = word.lower()
        try:
            if word in ("", "help"):
                return self.help()
            if word == "reset":
                return await self.reset(request)
            if word == "config":
                return await self.settings.handle(request.team, request.channel, request.user, rest,
                                                  lambda: self.is_channel_owner(request), _where(request))
            if word == "schedule" and self.schedules is not None:
                return await self.schedules.handle(request, rest, lambda: self.is_channel_owner(request))
            if word == "persona":
                return await self.persona(request, rest.strip())
            if word == "usage":
                return await self.usage(request)
            if word == "model":
                return await self.model(request)
            if word == "learn" and self.learning is not None:
                return await self.learning.handle(request, rest.strip(), lambda: self.is_channel_owner(request))
            if word == "tools":
                return self.tools(request.team) or "No tools are set up."
        except RedisError:
            return STORE_FAILED
        return f"I don't know `{word}`. " + self.help()

    def help(self) -> str:
        lines = ["*What I can do*", "Mention me in a channel or thread, or write to me directly. Commands:"]
        for command, prompt in sorted(self.catalog.commands.items()):
            usage = f" {prompt.header.usage}" if prompt.header.usage else ""
            lines.append(f"• `{command}{usage}`: {prompt.header.description}")
        c = self.command
        lines += [
            f"• `{c} help`: this list",
            f"• `{c} reset`: forget everything I keep for this channel (or this DM): conversations, answers, ratings, "
            "settings, persona",
            f"• `{c} config show|set <setting> <value>|unset <setting>`: this channel's own settings: "
            "`model`, `tools`, `persona`, `auto_reply`, `daily_tokens`",
            f"• `{c} persona show|set <text>|clear`: this channel's persona (added to my instructions)",
            f"• `{c} schedule add \"<when>\" <prompt or /command>|list|remove <id>`: prompts I run here on a schedule "
            "(\"every weekday at 9:00\", \"every 2 hours\" or cron), answered in a thread",
            f"• `{c} usage`: tokens and cost of you and of this channel, and what is left of any limit",
            f"• `{c} model`: which model answers here",
            f"• `{c} tools`: the tools I can use, and whether their servers are up",
        ] + ([f"• `{c} learn <link to a thread or canvas>|remove <link>`: team knowledge my answers here use and cite"]
             if self.learning is not None else [])
        return "\n".join(lines)

    def settings_overview(self) -> str:
        """What a channel may set for itself (the App Home)."""
        models = ", ".join(f"`{m}`" for m in self.policy.models)
        return ("*Channel settings*\nIn a channel, its creator or an admin can choose with "
                f"`{self.command} config set <setting> <value>` (in your DM with me, you can): `model` (one of {models}), "
                "`tools` (fewer of the tools above, or `none`), `persona`, `auto_reply` (`off`: answer only when mentioned) "
                f"and `daily_tokens` (a limit of its own). `{self.command} config show` shows a channel's.")

    async def reset(self, request: CommandRequest) -> str:
        """Forget everything kept for the channel: its creator or an admin only (anyone in their own DM)."""
        if not await self.is_channel_owner(request):
            return NOT_ALLOWED_TO_RESET
        forgotten = await self.store.forget_channel(request.team, request.channel)
        scheduled = await self.schedules.store.forget([request.team], request.channel) if self.schedules else 0
        await self._audit("reset", request, conversations=forgotten, schedules=scheduled)
        where = _where(request)
        if not forgotten and not scheduled:
            return f"I had nothing to forget in {where}."
        plural = "conversation" if forgotten == 1 else "conversations"
        also = f" I removed its {scheduled} scheduled prompt{'s' if scheduled != 1 else ''} too." if scheduled else ""
        return (f"Done: I forgot {forgotten} {plural} in {where}, with their answers, ratings, settings and persona. "
                "Threads I'm mentioned in again are read afresh." + also)

    async def persona(self, request: CommandRequest, text: str) -> str:
        action, _, value = text.partition(" ")
        action = action.lower() or "show"
        if action == "show":
            persona = await self.store.get_persona(request.team, request.channel)
            if persona is None:
                return "No persona here: the default system prompt applies."
            return f"This channel's persona:\n>>> {persona}"
        if action not in ("set", "clear"):
            return f"Usage: `{self.command} persona show`, `{self.command} persona set <text>` or `{self.command} persona clear`."
        if not await self.is_channel_owner(request):
            return "Only the channel's creator or a bot admin can change its persona."
        if action == "clear":
            await self.store.set_persona(request.team, request.channel, None)
            await self._audit("persona.clear", request)
            return "Persona cleared: the default system prompt applies again."
        value = value.strip()
        if not value:
            return f"Usage: `{self.command} persona set <text>`: the text is the system prompt I will use here."
        if len(value) > MAX_PERSONA_CHARS:
            return f"That persona is too long ({len(value)} characters); keep it under {MAX_PERSONA_CHARS}."
        await self.store.set_persona(request.team, request.channel, value)
        await self._audit("persona.set", request, characters=len(value))
        return "Persona set: I will follow it (within my standing instructions) for mentions, threads and commands here."

    async def _audit(self, action: str, request: CommandRequest, **details: object) -> None:
        if self.audit is not None:
            await self.audit.record(action, team=request.team, user=request.user, channel=request.channel, **details)

    async def is_channel_owner(self, request: CommandRequest) -> bool:
        """An admin, the channel's creator, or the user in their own DM with the bot."""
        if request.user in self.admins or request.direct:
            return True
        return await self.directory.channel_creator(request.team, request.channel) == request.user

    async def usage_of(self, team: str, user: str) -> dict[str, Totals]:
        """A user's usage today and this month (for the Home tab)."""
        if self.ledger is None:
            return {}
        return await usage_report(self.ledger, self.store.redis, team, "", user, self.now())

    async def usage(self, request: CommandRequest) -> str:
        if self.ledger is None:
            return "Usage is not recorded here."
        report = await usage_report(self.ledger, self.store.redis, request.team, request.channel, request.user, self.now())
        where = "this conversation" if request.direct else "this channel"
        lines = [
            "*Usage*",
            totals_line("You today", report["user_day"]),
            totals_line("You this month", report["user_month"]),
            totals_line(f"{where[0].upper()}{where[1:]} today", report["channel_day"]),
            totals_line(f"{where[0].upper()}{where[1:]} this month", report["channel_month"]),
        ]
        limits = (await self.store.channel_config(request.team, request.channel)).quotas(self.quotas)
        if limits.any:
            spent = await self.ledger.spent(self.store.redis, request.team, request.channel, request.user, self.now())
            lines += ["*Left*", *remaining_lines(spent, limits, request.user)]
        return "\n".join(lines)

    async def model(self, request: CommandRequest) -> str:
        chosen = self.policy.model_for(await self.store.channel_config(request.team, request.channel))
        lines = [f"Mentions, threads and DMs here are answered by `{chosen or self.default_model}`"
                 + (" (this channel's choice)." if chosen else ".")]
        overrides = sorted((c, p.header.model) for c, p in self.catalog.commands.items() if p.header.model)
        for command, model in overrides:
            lines.append(f"`{command}` uses `{model}`.")
        others = [m for m in self.policy.models if m != (chosen or self.default_model)]
        if others:
            lines.append(f"A channel may choose {', '.join(f'`{m}`' for m in others)} with `{self.command} config set model`.")
        return "\n".join(lines)


def _where(request: CommandRequest) -> str:
    return "this conversation" if request.direct else "this channel"
