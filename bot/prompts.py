"""Prompt files: a YAML front-matter header and a template body.

The body uses ``${name}`` variables.  Files are validated when loaded: unknown
header fields, missing required fields and variables the caller cannot supply
stop start-up with one line naming the file and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

SYSTEM_PROMPT_FILE = "system.md"
SYSTEM_VARIABLES = frozenset({"bot_name", "date", "user_name", "channel"})


class PromptError(Exception):
    """A prompt file is invalid; the message is one line naming the file."""


class PromptHeader(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    version: int = Field(ge=1)
    description: str = ""


@dataclass(frozen=True)
class Prompt:
    header: PromptHeader
    template: Template
    path: Path

    @property
    def variables(self) -> set[str]:
        return set(self.template.get_identifiers())

    def render(self, values: Mapping[str, str]) -> str:
        return self.template.substitute(values).strip()


def parse_prompt(text: str, path: Path, allowed_variables: frozenset[str]) -> Prompt:
    if not text.startswith("---\n"):
        raise PromptError(f"{path.name}: must start with a '---' front-matter header")
    try:
        _, header_text, body = text.split("---\n", 2)
    except ValueError:
        raise PromptError(f"{path.name}: the front-matter header is not closed with '---'") from None
    try:
        raw = yaml.safe_load(header_text) or {}
    except yaml.YAMLError:
        raise PromptError(f"{path.name}: the front-matter header is not valid YAML") from None
    if not isinstance(raw, dict):
        raise PromptError(f"{path.name}: the front-matter header must be a mapping of fields")
    try:
        header = PromptHeader.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"]) or "header"
            if error["type"] == "extra_forbidden":
                problems.append(f"unknown field '{field}'")
            elif error["type"] == "missing":
                problems.append(f"missing field '{field}'")
            else:
                problems.append(f"field '{field}': {error['msg']}")
        raise PromptError(f"{path.name}: " + "; ".join(problems)) from None
    template = Template(body)
    if not template.is_valid():
        raise PromptError(f"{path.name}: the body has a malformed ${{...}} placeholder (write $$ for a literal $)")
    unknown = set(template.get_identifiers()) - allowed_variables
    if unknown:
        raise PromptError(
            f"{path.name}: the body uses {', '.join(sorted('${' + v + '}' for v in unknown))}, "
            f"which cannot be supplied (available: {', '.join(sorted(allowed_variables))})"
        )
    return Prompt(header=header, template=template, path=path)


def load_system_prompt(prompts_dir: Path) -> Prompt:
    path = prompts_dir / SYSTEM_PROMPT_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptError(f"{path}: the system prompt file is missing (set PROMPTS_DIR to the folder holding it)") from None
    return parse_prompt(text, path, SYSTEM_VARIABLES)
