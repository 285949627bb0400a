"""Prompt files: a YAML front-matter header and a ``${variable}`` template body.

``prompts/system.md`` is the default system prompt.  Every other file is a
prompt handler; one that declares a ``command`` becomes a slash command, with
no code change.  All files are validated at start-up by a schema that forbids
unknown fields; any problem stops start-up with one line naming the file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SYSTEM_PROMPT_FILE = "system.md"
# Variables every prompt may use.
COMMON_VARIABLES = frozenset({"bot_name", "date", "user_name", "channel"})
SYSTEM_VARIABLES = COMMON_VARIABLES
# Supplied by an argument of kind "history": the messages being summarised.
HISTORY_VARIABLES = frozenset({"messages", "source"})
COMMAND_PATTERN = re.compile(r"^/[a-z0-9][a-z0-9_\-]{0,31}$")
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


class PromptError(Exception):
    """A prompt file is invalid; the message is one line naming the file."""


class ArgumentSpec(BaseModel):
    """One argument of a slash command, parsed from the command's text in order.

    - ``word``: one word (e.g. a language); with ``choices`` it must be one of them.
    - ``text``: the rest of the text (must be the last argument).
    - ``history``: what to read from Slack: nothing (the current channel's recent
      messages), a count, or a thread's permalink.  Supplies ``${messages}``
      and ``${source}``.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["word", "text", "history"]
    required: bool = True
    choices: list[str] | None = None
    default: str | None = None

    @field_validator("name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not IDENTIFIER.match(value):
            raise ValueError("must be a lowercase identifier")
        return value


class Suggestion(BaseModel):
    """A suggested prompt shown when someone opens a new assistant thread (Slack sends ``message`` as theirs)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=75)
    message: str = Field(min_length=1, max_length=1000)


class Variant(BaseModel):
    """One arm of a prompt experiment: its share of conversations (``weight``), the instructions
    added after the prompt's body, and optionally its own model."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,31}$")
    weight: float = Field(default=1.0, gt=0)
    instructions: str = ""
    model: str | None = None


class PromptHeader(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    version: int = Field(ge=1)
    description: str = ""
    command: str | None = None
    usage: str = ""
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_output_tokens: int | None = Field(default=None, ge=16)
    visibility: Literal["private", "public"] = "private"
    arguments: list[ArgumentSpec] = Field(default_factory=list)
    suggestion: Suggestion | None = None
    tools: list[str] = Field(default_factory=list)  # tools the command may call: names, "server:*" or "*"
    variants: list[Variant] = Field(default_factory=list)  # a prompt experiment: each conversation keeps one
    rubric: str | None = None  # the rubric (prompts/rubrics/<name>.md) live answers are judged by; default "default"
    knowledge: bool = False  # the command's answer searches team knowledge and cites it (bot/answer/retrieve.py)

    @field_validator("command")
    @classmethod
    def _command_shape(cls, value: str | None) -> str | None:
        if value is not None and not COMMAND_PATTERN.match(value):
            raise ValueError("must look like /name (lowercase letters, digits, - or _; at most 32 characters)")
        return value

    @model_validator(mode="after")
    def _arguments_make_sense(self) -> "PromptHeader":
        names = [a.name for a in self.arguments]
        if len(names) != len(set(names)):
            raise ValueError("two arguments share a name")
        for position, argument in enumerate(self.arguments):
            if argument.kind in ("text", "history") and position != len(self.arguments) - 1:
                raise ValueError(f"argument '{argument.name}' of kind {argument.kind} must be the last one")
            if argument.choices is not None and argument.kind != "word":
                raise ValueError(f"argument '{argument.name}': only word arguments take choices")
        if self.command and not self.description:
            raise ValueError("a prompt with a command needs a description (Slack shows it)")
        variants = [v.name for v in self.variants]
        if len(variants) != len(set(variants)):
            raise ValueError("two variants share a name")
        return self


@dataclass(frozen=True)
class Prompt:
    header: PromptHeader
    template: Template
    path: Path

    @property
    def name(self) -> str:
        return self.header.name

    @property
    def variables(self) -> set[str]:
        return set(self.template.get_identifiers())

    def render(self, values: Mapping[str, str], variant: str = "") -> str:
        """The body with ``values``, and the named variant's instructions after it."""
        text = self.template.substitute(values).strip()
        chosen = next((v for v in self.header.variants if v.name == variant), None)
        return f"{text}\n\n{chosen.instructions.strip()}" if chosen is not None and chosen.instructions.strip() else text

    def variant_for(self, key: str) -> Variant | None:
        """The experiment's variant for ``key`` (a conversation, or a person for a command): the
        same every time, each with its weight's share of keys; None without an experiment."""
        variants = self.header.variants
        if not variants:
            return None
        point = int.from_bytes(hashlib.sha256(f"{self.name}:{key}".encode()).digest()[:8], "big") / 2**64
        total = sum(v.weight for v in variants)
        for variant in variants:
            point -= variant.weight / total
            if point < 0:
                return variant
        return variants[-1]


def supplied_variables(header: PromptHeader) -> frozenset[str]:
    """What a prompt's body may use: the common variables and its arguments'."""
    names = set(COMMON_VARIABLES)
    for argument in header.arguments:
        names |= HISTORY_VARIABLES if argument.kind == "history" else {argument.name}
    return frozenset(names)


def parse_prompt(text: str, path: Path, allowed_variables: frozenset[str] | None = None) -> Prompt:
    """Parse one prompt file; ``allowed_variables`` defaults to what its header supplies."""
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
        raise PromptError(f"{path.name}: " + "; ".join(_describe(error) for error in exc.errors())) from None
    template = Template(body)
    if not template.is_valid():
        raise PromptError(f"{path.name}: the body has a malformed ${{...}} placeholder (write $$ for a literal $)")
    allowed = allowed_variables if allowed_variables is not None else supplied_variables(header)
    unknown = set(template.get_identifiers()) - allowed
    if unknown:
        raise PromptError(
            f"{path.name}: the body uses {', '.join(sorted('${' + v + '}' for v in unknown))}, "
            f"which {'the command' if header.command else 'this prompt'} cannot supply "
            f"(available: {', '.join(sorted(allowed))})"
        )
    return Prompt(header=header, template=template, path=path)


def _describe(error: Mapping) -> str:
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown field '{where}'"
    if error["type"] == "missing":
        return f"missing field '{where}'"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"field '{where}': {message}" if where else message


MAX_SUGGESTIONS = 4


@dataclass(frozen=True)
class PromptCatalog:
    """The system prompt and every prompt handler, by name and by slash command."""

    system: Prompt
    prompts: dict[str, Prompt] = field(default_factory=dict)

    @property
    def commands(self) -> dict[str, Prompt]:
        return {p.header.command: p for p in self.prompts.values() if p.header.command}

    def for_command(self, command: str) -> Prompt | None:
        return self.commands.get(command)

    def suggestions(self, limit: int = MAX_SUGGESTIONS) -> list[Suggestion]:
        """Suggested prompts for a new assistant thread, in file-name order (Slack shows at most 4)."""
        found = [p.header.suggestion for p in [self.system, *self.prompts.values()] if p.header.suggestion]
        return found[:limit]


def load_catalog(prompts_dir: Path, *, reserved_commands: frozenset[str] = frozenset()) -> PromptCatalog:
    """Load and validate every ``*.md`` prompt file in ``prompts_dir``."""
    if not prompts_dir.is_dir():
        raise PromptError(f"{prompts_dir}: the prompts folder does not exist (set PROMPTS_DIR)")
    system_path = prompts_dir / SYSTEM_PROMPT_FILE
    if not system_path.is_file():
        raise PromptError(f"{system_path}: the system prompt file is missing (set PROMPTS_DIR to the folder holding it)")
    system = parse_prompt(_read(system_path), system_path, SYSTEM_VARIABLES)
    if system.header.command:
        raise PromptError(f"{SYSTEM_PROMPT_FILE}: the system prompt cannot declare a command")
    prompts: dict[str, Prompt] = {}
    owners: dict[str, Path] = {}
    for path in sorted(prompts_dir.glob("*.md")):
        if path.name == SYSTEM_PROMPT_FILE:
            continue
        prompt = parse_prompt(_read(path), path)
        if prompt.name in prompts or prompt.name == system.name:
            other = prompts[prompt.name].path.name if prompt.name in prompts else SYSTEM_PROMPT_FILE
            raise PromptError(f"{path.name}: the name '{prompt.name}' is already used by {other}")
        command = prompt.header.command
        if command in reserved_commands:
            raise PromptError(f"{path.name}: {command} is the bot's own management command")
        if command and command in owners:
            raise PromptError(f"{path.name}: {command} is already declared by {owners[command].name}")
        if command:
            owners[command] = path
        prompts[prompt.name] = prompt
    return PromptCatalog(system=system, prompts=prompts)


def load_system_prompt(prompts_dir: Path) -> Prompt:
    return load_catalog(prompts_dir).system


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise PromptError(f"{path.name}: cannot be read as UTF-8 text") from None
