"""The services that answer (bot/services.py's ``Services``), built from the core parts and
the Slack-side ones the runtime (or the console) hands over: the responder and its stages,
commands, management, the dispatcher, the answer buttons and assistant threads."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any, Callable

from bot.answer_actions import AnswerActions
from bot.assistant_threads import AssistantThreads
from bot.channels.config import ConfigPolicy
from bot.commands import CommandRunner, HistorySource
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.flood import FloodLimit
from bot.files.reader import FileReader
from bot.management import Management
from bot.memory.conversation import ConversationId
from bot.schedules.command import ScheduleCommands
from bot.schedules.store import ScheduleStore
from bot.responder import BotIdentity, Budget, PrivateNotes, ReplyFactory, Responder, ThreadReader
from bot.services import Core, Services
from bot.slack.canvases import CanvasWriter
from bot.slack.directory import NameDirectory
from bot.tools.approval import SlackApprovals
from bot.tools.overview import tools_overview
from bot.tools.rounds import ToolLimits
from bot.tools.tenancy import ToolTenancy
from bot.tools.toolbox import Toolbox
from bot.workspaces.tokens import Workspaces


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def build_services(
    core: Core,
    *,
    directory: NameDirectory,
    replies: ReplyFactory,
    threads: ThreadReader | None,
    history: HistorySource,
    identity: BotIdentity,
    notes: PrivateNotes | None = None,
    now: Callable[[], datetime] = utc_now,
    toolbox: Toolbox | None = None,
    approvals: SlackApprovals | None = None,
    files: FileReader | None = None,
    workspaces: Workspaces | None = None,
    canvases: CanvasWriter | None = None,
) -> Services:
    settings = core.settings
    tenancy = ToolTenancy(settings.distributed, settings.tools_workspace_ids)
    policy = ConfigPolicy(settings.openai_model, settings.allowed_model_names, settings.channel_daily_token_limit,
                          lambda team: toolbox.all() if toolbox is not None and tenancy.allows_here(team) else [])
    responder = build_responder(core, directory=directory, replies=replies, threads=threads, identity=identity,
                                notes=notes, now=now, toolbox=toolbox, approvals=approvals, files=files, tenancy=tenancy,
                                policy=policy)
    flood = FloodLimit(core.store.redis, core.store.keys, per_minute=settings.user_messages_per_minute,
                       bot_turns=settings.bot_turns_per_thread)
    commands = CommandRunner(
        catalog=core.catalog, counter=core.counter, store=core.store, responder=responder, history=history,
        max_context_tokens=settings.max_context_tokens, bot_name=settings.bot_name, now=now, flood=flood,
        canvases=canvases,
    )
    schedules = ScheduleStore(core.store.redis, core.store.keys)
    management = build_management(core, directory=directory, now=now, policy=policy, schedules=schedules,
                                  tools=lambda team: tools_overview(toolbox, settings.default_tool_patterns,
                                                                    allowed=tenancy.allows_here(team)),
                                  learning=build_learning(core, directory=directory, history=history, identity=identity))
    dispatcher = Dispatcher(
        core.store, responder, core.tasks,
        lease_seconds=settings.lease_seconds,
        max_concurrent=settings.max_concurrent_answers,
        sealer=core.guards.redactor.sealer if core.guards.redactor is not None else None,
        flood=flood,
        workspace_for=None if workspaces is None else (
            lambda message: workspaces.find(team_id=message.team, enterprise_id=message.enterprise,
                                            is_enterprise_install=message.org_install)),
    )
    return Services(
        responder, commands, management, dispatcher,
        AnswerActions(core.store, dispatcher, core.stops, admins=settings.admins, now=now, metrics=core.metrics,
                      is_private=getattr(directory, "is_private", None)),
        AssistantThreads(core.store, core.catalog, bot_name=settings.bot_name,
                         agent_view=settings.slack_agent_surface == "agent_view"),
        toolbox,
        approvals,
        schedules,
    )


def build_learning(core: Core, *, directory: NameDirectory, history: HistorySource, identity: BotIdentity) -> Any:
    """``/assistant learn`` (None without team knowledge)."""
    if core.knowledge is None:
        return None
    from bot.knowledge.learn import Learning
    from bot.knowledge.wiring import library_of
    from bot.slack.transcripts import transcript_lines

    async def transcript(team: str, raw: Any) -> list[str]:
        return await transcript_lines(raw, team=team, directory=directory, bot_user_id=identity.user_id,
                                      bot_id=identity.bot_id, bot_name=core.settings.bot_name, tz=None)

    return Learning(library=library_of(core.knowledge), client=getattr(history, "client", None), history=history,
                    directory=directory, transcript=transcript, command=core.settings.management_command,
                    audit=core.audit)


def build_management(core: Core, *, directory: NameDirectory, now: Callable[[], datetime], policy: ConfigPolicy,
                     schedules: ScheduleStore, tools: Callable[[str], str], learning: Any = None) -> Management:
    """``/assistant``: its subcommands, a channel's settings and its scheduled prompts."""
    settings = core.settings
    return Management(
        command=settings.management_command, catalog=core.catalog, store=core.store, directory=directory,
        admins=settings.admins, default_model=settings.openai_model, now=now, tools=tools, ledger=core.ledger,
        quotas=settings.quota_limits, policy=policy, audit=core.audit, learning=learning,
        schedules=ScheduleCommands(command=settings.management_command, store=schedules, catalog=core.catalog,
                                   tz_of=directory.user_tz, now=now, audit=core.audit),
    )


def conversation_cache_key(cid: ConversationId) -> str:
    """``prompt_cache_key`` for a conversation: its requests share a prefix.  Hashed: no Slack ids leave."""
    return "c-" + hashlib.sha256(str(cid).encode()).hexdigest()[:24]


def build_responder(
    core: Core, *, directory: NameDirectory, replies: ReplyFactory, threads: ThreadReader | None, identity: BotIdentity,
    notes: PrivateNotes | None, now: Callable[[], datetime], toolbox: Toolbox | None, approvals: SlackApprovals | None,
    files: FileReader | None, tenancy: ToolTenancy, policy: ConfigPolicy,
) -> Responder:
    """The answer pipeline's stages, from the settings (bot/answer/)."""
    settings = core.settings
    return Responder(
        store=core.store,
        model=core.model,
        counter=core.counter,
        system_prompt=core.catalog.system,
        directory=directory,
        replies=replies,
        threads=threads,
        identity=identity,
        budget=Budget(settings.max_context_tokens, settings.trim_target_ratio),
        bot_name=settings.bot_name,
        dm_idle_reset_seconds=settings.dm_idle_reset_minutes * 60,
        thread_import_limit=settings.thread_import_limit,
        edit_window_seconds=settings.edit_window_seconds,
        notes=notes,
        stops=core.stops,
        cache_key=conversation_cache_key if settings.sends_prompt_cache_key else (lambda cid: None),
        now=now,
        toolbox=toolbox,
        default_tools=settings.default_tool_patterns,
        tool_limits=ToolLimits(settings.max_tool_rounds, settings.tool_timeout_seconds, settings.max_tool_result_tokens),
        approver=approvals,
        files=files,
        ledger=core.ledger,
        quotas=settings.quota_limits,
        access=settings.access,
        metrics=core.metrics,
        tenancy=tenancy,
        policy=policy,
        audit=core.audit,
        guards=core.guards,
        summary_tokens=settings.summary_max_tokens,
        summary_model=settings.summary_model,
        knowledge=core.knowledge,
    )
