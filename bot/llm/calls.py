"""A function call the model asked for, as the model layer reads it and the store keeps it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """One function call the model asked for: ``arguments`` as the JSON text it wrote."""

    id: str
    name: str
    arguments: str

    def as_chat(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}
