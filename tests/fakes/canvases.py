"""Slack's canvases as the fake Slack answers them: canvases.create, canvases.edit,
canvases.access.set, conversations.canvases.create, and files.info for a canvas (Slack's
documented arguments, errors and the canvases:write scope)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

METHODS = ("canvases.create", "canvases.edit", "canvases.access.set", "conversations.canvases.create", "files.info",
           "canvases.getContent")
OPERATIONS = ("insert_after", "insert_before", "insert_at_start", "insert_at_end", "replace", "delete")


@dataclass
class Canvas:
    id: str
    title: str
    markdown: str
    owner: str
    channel: str = ""  # a channel canvas's channel
    readers: dict[str, str] = field(default_factory=dict)  # user or channel id -> "read" | "write"

    def shared_in(self) -> list[str]:
        return sorted(c for c in self.readers if c[0] in "CGD") + ([self.channel] if self.channel else [])


def _list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part for part in value.split(",") if part]
    return list(value or [])


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _content(value: Any) -> str | None:
    content = _json(value)
    if not isinstance(content, dict) or content.get("type") != "markdown" or not isinstance(content.get("markdown"), str):
        return None
    return content["markdown"]


class FakeCanvases:
    def __init__(self, bot_user: str, team: str) -> None:
        self.bot_user, self.team = bot_user, team
        self.canvases: dict[str, Canvas] = {}
        self._count = 0

    def add(self, title: str, markdown: str, *, owner: str, shared_in: tuple[str, ...] = (), bot_may_write: bool = True) -> str:
        """A canvas someone made in Slack; its id."""
        canvas = self._new(title, markdown, owner)
        canvas.readers.update({channel: "write" for channel in shared_in})
        if bot_may_write:
            canvas.readers[self.bot_user] = "write"
        return canvas.id

    def link(self, canvas_id: str) -> str:
        return f"https://example.slack.com/docs/{self.team}/{canvas_id}"

    def of_channel(self, channel: str) -> Canvas | None:
        return next((c for c in self.canvases.values() if c.channel == channel), None)

    def _new(self, title: str, markdown: str, owner: str, channel: str = "") -> Canvas:
        self._count += 1
        canvas = Canvas(f"F0CANVAS{self._count:03d}", title, markdown, owner, channel)
        self.canvases[canvas.id] = canvas
        return canvas

    def answer(self, method: str, p: dict[str, Any], scopes: list[str]) -> dict[str, Any]:
        if method == "files.info":
            return self._info(p)
        if method == "canvases.getContent":  # what the bot may view, as Markdown (canvases:read)
            canvas = self.canvases.get(str(p.get("canvas_id") or ""))
            if "canvases:read" not in scopes:
                return {"ok": False, "error": "missing_scope", "needed": "canvases:read"}
            if canvas is None or not (canvas.readers.get(self.bot_user) or canvas.owner == self.bot_user
                                      or canvas.channel or canvas.shared_in()):
                return {"ok": False, "error": "canvas_not_found"}
            return {"ok": True, "content": canvas.markdown}
        if "canvases:write" not in scopes:
            return {"ok": False, "error": "missing_scope", "needed": "canvases:write"}
        if method == "canvases.create":
            markdown = _content(p.get("document_content")) if p.get("document_content") is not None else ""
            if markdown is None:
                return {"ok": False, "error": "invalid_arguments"}
            return {"ok": True, "canvas_id": self._new(str(p.get("title") or ""), markdown, self.bot_user).id}
        if method == "conversations.canvases.create":
            channel = str(p.get("channel_id") or "")
            if not channel:
                return {"ok": False, "error": "invalid_arguments"}
            if self.of_channel(channel) is not None:
                return {"ok": False, "error": "channel_canvas_already_exists"}
            markdown = _content(p.get("document_content"))
            return {"ok": True, "canvas_id": self._new(str(p.get("title") or ""), markdown or "", self.bot_user, channel).id}
        canvas = self.canvases.get(str(p.get("canvas_id") or ""))
        if canvas is None:
            return {"ok": False, "error": "canvas_not_found"}
        if method == "canvases.access.set":
            return self._access(canvas, p)
        return self._edit(canvas, p)

    def _access(self, canvas: Canvas, p: dict[str, Any]) -> dict[str, Any]:
        channels, users, level = _list(p.get("channel_ids")), _list(p.get("user_ids")), p.get("access_level")
        if level not in ("read", "write") or bool(channels) == bool(users):
            return {"ok": False, "error": "invalid_arguments"}
        if canvas.owner != self.bot_user and canvas.readers.get(self.bot_user) != "write":
            return {"ok": False, "error": "restricted_action"}
        canvas.readers.update({who: str(level) for who in [*channels, *users]})
        return {"ok": True}

    def _edit(self, canvas: Canvas, p: dict[str, Any]) -> dict[str, Any]:
        if canvas.owner != self.bot_user and canvas.readers.get(self.bot_user) != "write" and not canvas.channel:
            return {"ok": False, "error": "restricted_action"}
        changes = _json(p.get("changes"))
        if not isinstance(changes, list) or len(changes) != 1:  # one operation per call
            return {"ok": False, "error": "invalid_arguments"}
        change = changes[0]
        markdown = _content(change.get("document_content"))
        if change.get("operation") not in OPERATIONS or markdown is None:
            return {"ok": False, "error": "invalid_arguments"}
        if change["operation"] == "insert_at_end":
            canvas.markdown = f"{canvas.markdown}\n\n{markdown}" if canvas.markdown else markdown
        elif change["operation"] == "insert_at_start":
            canvas.markdown = f"{markdown}\n\n{canvas.markdown}"
        return {"ok": True}

    def _info(self, p: dict[str, Any]) -> dict[str, Any]:
        canvas = self.canvases.get(str(p.get("file") or ""))
        if canvas is None:
            return {"ok": False, "error": "file_not_found"}
        places = canvas.shared_in()
        return {"ok": True, "file": {
            "id": canvas.id, "title": canvas.title, "filetype": "quip", "user": canvas.owner,
            "permalink": self.link(canvas.id),
            "channels": [c for c in places if c.startswith("C")], "groups": [c for c in places if c.startswith("G")],
            "ims": [c for c in places if c.startswith("D")]}}
