"""What ``/assistant tools`` and the App Home say about the tools.  Pure."""

from __future__ import annotations

from typing import Sequence

from bot.tools.tenancy import TOOLS_OFF
from bot.tools.toolbox import Toolbox, matches


def tools_overview(toolbox: Toolbox | None, default_patterns: Sequence[str], *, allowed: bool = True) -> str:
    """One line per tool source: its state and its tools (those needing approval marked);
    ``allowed``: whether the workspace asking may use tools (TOOLS_WORKSPACES)."""
    if not allowed:
        return TOOLS_OFF
    if toolbox is None or not toolbox.providers:
        return "*Tools*\nNo tools are set up (see MCP_CONFIG and DEFAULT_TOOLS in the README)."
    lines = ["*Tools*"]
    for provider in toolbox.providers:
        name = getattr(provider, "name", None)
        specs = provider.tools()
        listed = ", ".join(f"`{s.original or s.name}`" + (" (asks first)" if s.confirm else "") for s in specs)
        if name is None:
            lines.append(f"• Built-in: {listed or 'none switched on'}")
            continue
        transport = provider.config.transport  # type: ignore[attr-defined]
        state = provider.state  # type: ignore[attr-defined]
        if state == "up":
            lines.append(f"• *{name}* ({transport}, connected): {listed or 'no tools offered'}")
        else:
            problem = getattr(provider, "problem", "")
            lines.append(f"• *{name}* ({transport}, {state}{': ' + problem if problem else ''}): its tools are left out until it is back")
    used = [s.pattern_name for s in toolbox.all() if any(matches(s, p) for p in default_patterns)]
    lines.append("In mentions, threads and DMs I may use: " + (", ".join(f"`{u}`" for u in used) if used else "no tools"))
    return "\n".join(lines)
