"""docs/settings.md, generated from the settings class, so the page never drifts from the code:
``python -m bot.settings_doc > docs/settings.md`` (a test checks the page is up to date).

Each setting's meaning is its field's ``description``; its default is the field's default,
written as the page shows it, or the field's ``doc_default`` where words say it better
("required", "unset: embedded store")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bot.settings import Settings
from bot.settings_fields import PROJECT_ROOT

HEADER = """# Settings

Part of the [README](../README.md)'s reference.

## Settings

Read once at start-up from the environment and `.env` (see `.env.example`). Secrets are never logged.
This page is generated from the settings declarations (`bot/settings_fields.py`; `python -m bot.settings_doc > docs/settings.md`).

| setting | default | meaning |
| --- | --- | --- |
"""


def default_text(field: FieldInfo) -> str:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "doc_default" in extra:
        return str(extra["doc_default"])
    value: Any = field.default
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        try:
            return f"`./{value.relative_to(PROJECT_ROOT)}`"
        except ValueError:
            home = Path.home()
            return f"`~/{value.relative_to(home)}`" if value.is_relative_to(home) else f"`{value}`"
    if value == "":
        return "empty"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def settings_page() -> str:
    rows = []
    for field in Settings.model_fields.values():
        meaning = " ".join((field.description or "").split())
        rows.append(f"| `{field.alias}` | {default_text(field)} | {meaning} |")
    return HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(settings_page(), end="")
