"""The Slack app manifest, generated from the code and the prompt files so the
Slack app and the bot never drift apart."""

from __future__ import annotations

from typing import Any

import yaml

from bot.prompts import PromptCatalog

# Events the bot subscribes to (the same on both AI surfaces), and the scopes the bot uses (with why).
BOT_EVENTS = [
    "app_mention",
    "message.channels",
    "message.groups",
    "message.im",
    "message.mpim",
    "agent_session_stopped",  # Slack's own Stop button on an agent session
    "app_home_opened",  # the Home tab; under agent view also the Messages tab (greeting, suggested prompts)
    "channel_deleted",  # a deleted channel's conversations, settings and scheduled prompts are forgotten
    "group_deleted",  # the same for a private channel
]
# What each AI surface adds: agent view says what the user is looking at per user, the
# split view per assistant thread (and starts each thread itself).
SURFACE_EVENTS = {
    "agent_view": ["app_context_changed"],
    "assistant_view": ["assistant_thread_started", "assistant_thread_context_changed"],
}
AGENT_SURFACES = tuple(SURFACE_EVENTS)
BOT_SCOPES = [
    "app_mentions:read",  # app_mention events
    "channels:history",  # message.channels, thread history, /summarize
    "groups:history",  # the same in private channels
    "im:history",  # direct messages
    "mpim:history",  # group direct messages
    "chat:write",  # post and update answers
    "commands",  # slash commands
    "users:read",  # readable names (users.info)
    "channels:read",  # channel names and creators (conversations.info)
    "groups:read",  # the same for private channels, and their members (who may read a linked conversation)
    "im:read",  # DM members: a linked DM is summarised only for its members
    "mpim:read",  # the same for group DMs
    "assistant:write",  # assistant threads: status, suggested prompts, titles
    "files:read",  # files shared with a message are read (url_private_download)
    "canvases:read",  # /assistant learn reads a canvas (canvases.getContent)
]
# Scopes Slack's search for AI apps (assistant.search.context) needs: only with TOOL_SEARCH_WORKSPACE.
SEARCH_SCOPES = ["search:read.public", "search:read.private", "search:read.im", "search:read.mpim"]
# Writing canvases (the write_canvas tool, /summarize … to canvas): only with TOOL_WRITE_CANVAS.
CANVAS_SCOPES = ["canvases:write"]
PLACEHOLDER_URL = "https://YOUR-HOST"
# A distributable app also hears when a workspace removes it, to forget that workspace.
UNINSTALL_EVENTS = ["app_uninstalled", "tokens_revoked"]
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


def bot_scopes(*, search: bool = False, canvases: bool = False) -> list[str]:
    """The scopes the bot asks for (in the manifest and in the OAuth flow)."""
    return [*BOT_SCOPES, *(SEARCH_SCOPES if search else []), *(CANVAS_SCOPES if canvases else [])]


def build_manifest(
    catalog: PromptCatalog, *, url: str | None, name: str, management_command: str, socket_mode: bool = False,
    search: bool = False, distributed: bool = False, surface: str = "agent_view", canvases: bool = False,
) -> dict[str, Any]:
    """``distributed``: an app installed in many workspaces through OAuth (redirect URL,
    token rotation, org-wide installs, uninstall events); ``surface``: Slack's AI surface
    (``agent_view``, the only one a new app may choose, or ``assistant_view``)."""
    base = (url or PLACEHOLDER_URL).rstrip("/")
    endpoint = f"{base}/slack/events"
    commands = []
    for command, prompt in sorted(catalog.commands.items()):
        commands.append(_command(command, prompt.header.description, prompt.header.usage, endpoint, socket_mode))
    commands.append(
        _command(management_command, f"Help, settings, schedules, usage and more for {name}",
                 "help | config | schedule | persona | reset | usage | model | tools", endpoint, socket_mode)
    )
    events: dict[str, Any] = {"bot_events": bot_events(surface, distributed=distributed)}
    if not socket_mode:
        events = {"request_url": endpoint, **events}
    return {
        "display_information": {
            "name": name,
            "description": "An AI assistant that answers mentions, threads, direct messages and slash commands.",
        },
        "features": {
            "app_home": {"home_tab_enabled": True, "messages_tab_enabled": True, "messages_tab_read_only_enabled": False},
            **ai_surface(surface, catalog, name),
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": commands,
        },
        "oauth_config": {
            **({"redirect_urls": [f"{base}{REDIRECT_PATH}"]} if distributed else {}),
            "scopes": {"bot": bot_scopes(search=search, canvases=canvases)},
        },
        "settings": {
            "event_subscriptions": events,
            "interactivity": {"is_enabled": True, **({} if socket_mode else {"request_url": endpoint})},
            "org_deploy_enabled": distributed,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": distributed,
        },
    }


def bot_events(surface: str, *, distributed: bool = False) -> list[str]:
    return [*BOT_EVENTS, *SURFACE_EVENTS[surface], *(UNINSTALL_EVENTS if distributed else [])]


def ai_surface(surface: str, catalog: PromptCatalog, name: str) -> dict[str, Any]:
    """The manifest's AI feature: agent view has a description (its suggested prompts are set
    when the Messages tab opens); the split view also lists suggested prompts."""
    description = f"{name} answers questions, summarises, translates and rewrites."
    if surface == "agent_view":
        return {"agent_view": {"agent_description": description}}
    return {"assistant_view": {
        "assistant_description": description,
        "suggested_prompts": [{"title": s.title, "message": s.message} for s in catalog.suggestions()],
    }}


def _command(command: str, description: str, usage: str, endpoint: str, socket_mode: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"command": command, "description": description[:100]}
    if not socket_mode:
        entry["url"] = endpoint
    if usage:
        entry["usage_hint"] = usage[:1000]
    entry["should_escape"] = False
    return entry


def manifest_yaml(manifest: dict[str, Any]) -> str:
    header = "# Generated by 'python -m bot manifest' from the code and prompts/: do not edit by hand.\n"
    return header + yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=100)
