"""The Redis keys of many workspaces (from the store's versioned base)."""

from __future__ import annotations

from bot.memory.conversation import Keys


def installation_key(keys: Keys, enterprise: str, team: str) -> str:
    """A workspace's installation (an org-wide install: the enterprise's, with no team)."""
    return f"{keys.base}:installation:{enterprise or '-'}:{team or '-'}"


def installation_pattern(keys: Keys) -> str:
    return f"{keys.base}:installation:*"


def token_refresh_key(keys: Keys, enterprise: str, team: str) -> str:
    """Held by the one process refreshing an installation's token."""
    return f"{keys.base}:token-refresh:{enterprise or '-'}:{team or '-'}"


def org_teams_key(keys: Keys, enterprise: str) -> str:
    """The workspaces an org-wide installation has worked in (so uninstalling forgets them all)."""
    return f"{keys.base}:org-teams:{enterprise}"


def oauth_state_key(keys: Keys, state: str) -> str:
    """An OAuth state issued by /slack/install, spent by the redirect."""
    return f"{keys.base}:oauth-state:{state}"
