"""Which workspace the code running now works for.

In distributed mode (many workspaces) every piece of work runs on behalf of one
installation: Bolt's ``authorize`` enters it for a request, the dispatcher for a
queued job.  It is kept in a context variable, so it follows the work into the
tasks it starts, and the Slack client and the bot's identity read it where they
need a token or the bot's user id.  In single-workspace mode nothing is entered
and both use what start-up read.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Iterator

from slack_sdk.web.async_client import AsyncWebClient


@dataclass(frozen=True)
class Workspace:
    """One installation: the workspace (or org, for an org-wide install) and its bot."""

    team_id: str
    enterprise_id: str = ""
    bot_token: str = ""
    bot_user_id: str = ""
    bot_id: str = ""
    bot_name: str = ""
    is_enterprise_install: bool = False

    def __repr__(self) -> str:  # never the token
        return f"Workspace(team_id={self.team_id!r}, enterprise_id={self.enterprise_id!r}, bot_user_id={self.bot_user_id!r})"


_current: ContextVar[Workspace | None] = ContextVar("workspace", default=None)


def current() -> Workspace | None:
    return _current.get()


def enter(workspace: Workspace | None) -> None:
    """Work for ``workspace`` from here on in this task (and the tasks it starts)."""
    _current.set(workspace)


def bot_name(default: str) -> str:
    """The bot's name where the code runs now: its name in the current workspace (read at
    install), else ``default`` (BOT_NAME)."""
    workspace = _current.get()
    return workspace.bot_name if workspace is not None and workspace.bot_name else default


@contextmanager
def working_for(workspace: Workspace | None) -> Iterator[None]:
    """Work for ``workspace`` inside the block."""
    token = _current.set(workspace)
    try:
        yield
    finally:
        _current.reset(token)


class WorkspaceTokenMixin:
    """For a slack-sdk client: the token of the workspace being worked for when there
    is one, else the client's own (single-workspace mode)."""

    _own_token: str | None

    @property
    def token(self) -> str | None:
        workspace = _current.get()
        if workspace is not None and workspace.bot_token:
            return workspace.bot_token
        return self._own_token

    @token.setter
    def token(self, value: str | None) -> None:
        self._own_token = value


class WorkspaceWebClient(WorkspaceTokenMixin, AsyncWebClient):
    """slack-sdk's client, sending the current workspace's token."""


class WorkspaceIdentity:
    """The bot's identity (user id, bot id, workspace) where the code runs now: the current
    workspace's bot in distributed mode, else the identity start-up read (auth.test)."""

    def __init__(self, fixed: Any | None = None) -> None:
        self.fixed = fixed

    def _get(self, name: str) -> str:
        workspace = _current.get()
        if workspace is not None:
            return {"user_id": workspace.bot_user_id, "bot_id": workspace.bot_id, "team_id": workspace.team_id}[name]
        return str(getattr(self.fixed, name, "") or "")

    @property
    def user_id(self) -> str:
        return self._get("user_id")

    @property
    def bot_id(self) -> str:
        return self._get("bot_id")

    @property
    def team_id(self) -> str:
        return self._get("team_id")
