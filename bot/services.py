"""The bot's parts, as the runtime builds them and the handlers receive them: ``Core``
(settings, store, model, tokenizer, prompts, background tasks, metrics, file workers) and
``Services`` (what answers: the responder, commands, management, the dispatcher...).
Kept apart from their wiring (bot/runtime.py) so that the Bolt app and the handlers
(bot/app.py, handlers/) can name them without importing the wiring that imports them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from bot.answer_actions import AnswerActions
from bot.operations.audit import AuditLog
from bot.assistant_threads import AssistantThreads
from bot.commands import CommandRunner
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.stops import StopSignals
from bot.files.sandbox import ExtractionPool
from bot.guardrails.parts import Guardrails
from bot.llm.model import ModelClient
from bot.management import Management
from bot.memory.store import ConversationStore
from bot.observability.metrics import Metrics
from bot.prompts import PromptCatalog
from bot.responder import Responder
from bot.schedules.store import ScheduleStore
from bot.settings import Settings
from bot.tasks import BackgroundTasks
from bot.tokens import TokenCounter
from bot.tools.approval import SlackApprovals
from bot.tools.mcp_servers import McpServer
from bot.tools.toolbox import Toolbox
from bot.usage.ledger import Ledger


@dataclass
class Core:
    settings: Settings
    store: ConversationStore
    model: ModelClient
    counter: TokenCounter
    catalog: PromptCatalog
    tasks: BackgroundTasks
    stops: StopSignals
    mcp_servers: list[McpServer] = field(default_factory=list)
    ledger: Ledger | None = None
    metrics: Metrics = field(default_factory=Metrics)
    extractor: ExtractionPool = field(default_factory=ExtractionPool)  # file worker processes
    audit: AuditLog | None = None  # settings and admin actions, tool approvals and calls
    guards: Guardrails = field(default_factory=Guardrails)  # redaction, moderation, online evaluation
    knowledge: Any = None  # team knowledge (bot.knowledge.search.Knowledge; None: KNOWLEDGE=false)

    async def aclose(self, grace_seconds: float | None = None) -> None:
        """Let background work finish for ``grace_seconds`` (default: the setting), then close."""
        await self.tasks.aclose(self.settings.shutdown_grace_seconds if grace_seconds is None else grace_seconds)
        await asyncio.gather(*(server.close() for server in self.mcp_servers))
        await self.stops.close()
        await self.extractor.close()
        await self.model.close()
        if self.knowledge is not None:
            await self.knowledge.close()
        await self.store.close()


@dataclass
class Services:
    responder: Responder
    commands: CommandRunner
    management: Management
    dispatcher: Dispatcher
    answer_actions: AnswerActions
    assistant_threads: AssistantThreads
    toolbox: Toolbox | None = None
    approvals: SlackApprovals | None = None
    schedules: ScheduleStore | None = None
