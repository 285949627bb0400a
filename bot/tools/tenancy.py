"""Which workspaces may use tools.  With many workspaces (OAuth), the operator's MCP
servers (and the credentials in their configuration), DEFAULT_TOOLS and prompt-file
tools reach only the workspaces listed in TOOLS_WORKSPACES (team or enterprise ids;
empty: none).  With one workspace, that workspace uses them.  Pure."""

from __future__ import annotations

from dataclasses import dataclass

from bot.workspaces import context as workspace_context

TOOLS_OFF = ("*Tools*\nTools are switched off in this workspace: the operator lists the workspaces that may use "
             "them in TOOLS_WORKSPACES.")


@dataclass(frozen=True)
class ToolTenancy:
    distributed: bool = False
    workspaces: frozenset[str] = frozenset()

    def allows(self, team: str, enterprise: str = "") -> bool:
        if not self.distributed:
            return True
        return team in self.workspaces or bool(enterprise) and enterprise in self.workspaces

    def allows_here(self, team: str) -> bool:
        """For ``team``, in the workspace (and its enterprise) the running work is for."""
        current = workspace_context.current()
        return self.allows(team, current.enterprise_id if current is not None else "")
