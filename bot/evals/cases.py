"""Evaluation case files (YAML, under ``EVALS_DIR``), checked strictly: a mistake stops the
run with one line naming the file and the case."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import jsonschema
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CHECKS = ("contains", "icontains", "not_contains", "equals", "not_equals", "regex", "json_schema", "max_tokens",
          "max_latency_ms", "judge", "retrieved")
TEXT_CHECKS = frozenset({"contains", "icontains", "not_contains", "equals", "not_equals", "regex", "judge", "retrieved"})


class EvalFileError(Exception):
    """A case file is malformed; the message is one line naming the file (and case)."""


class Check(BaseModel):
    """One expectation: exactly one of the check kinds, with its value."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    value: Any

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, data: Any) -> Any:
        if not isinstance(data, dict) or len(data) != 1:
            raise ValueError(f"each check is one of {', '.join(CHECKS)} with its value, like '- icontains: bonjour'")
        kind, value = next(iter(data.items()))
        if kind not in CHECKS:
            raise ValueError(f"unknown check '{kind}' (known: {', '.join(CHECKS)})")
        if kind in TEXT_CHECKS and (not isinstance(value, str) or not value):
            raise ValueError(f"'{kind}' takes a non-empty string")
        if kind == "regex":
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"'regex' is not a valid regular expression ({exc})") from None
        if kind in ("max_tokens", "max_latency_ms") and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise ValueError(f"'{kind}' takes a positive whole number")
        if kind == "json_schema":
            if not isinstance(value, dict):
                raise ValueError("'json_schema' takes a JSON Schema object")
            try:  # checked when the file is read: before any model call, not after
                jsonschema.validators.validator_for(value).check_schema(value)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"'json_schema' is not a valid JSON Schema ({exc.message})") from None
        return {"kind": kind, "value": value}


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    vars: dict[str, str] = Field(default_factory=dict)
    messages: list[Message] | None = None
    expect: list[Check] = Field(min_length=1)
    repeat: int | None = Field(default=None, ge=1, le=1000)  # this case's own (default: the file's)
    pass_rate: float | None = Field(default=None, gt=0.0, le=1.0)


class EvalFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str | None = None
    model: str | None = None
    knowledge: str | None = None  # a folder of documents (relative to the file) its cases' answers search
    repeat: int = Field(default=1, ge=1, le=1000)
    pass_rate: float = Field(default=1.0, gt=0.0, le=1.0)
    cases: list[Case] = Field(min_length=1)

    @field_validator("cases")
    @classmethod
    def _unique_names(cls, cases: list[Case]) -> list[Case]:
        names = [case.name for case in cases]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"two cases are named {duplicated[0]!r}")
        return cases


class LoadedFile(BaseModel):
    path: Path
    spec: EvalFile


def load_eval_file(path: Path) -> LoadedFile:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvalFileError(f"{path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise EvalFileError(f"{path}: not valid YAML{where}") from None
    try:
        spec = EvalFile.model_validate(raw)
    except ValidationError as exc:
        raise EvalFileError(f"{path}: {_describe(exc, raw)}") from None
    if spec.knowledge is not None and not (path.parent / spec.knowledge).is_dir():
        raise EvalFileError(f"{path}: knowledge: {spec.knowledge} is not a folder next to it")
    for case in spec.cases:
        if any(check.kind == "retrieved" for check in case.expect) and (spec.knowledge is None or spec.prompt):
            raise EvalFileError(f"{path}: case {case.name!r}: 'retrieved' needs a plain chat file with 'knowledge: <folder>'")
        if spec.prompt is None and not case.messages:
            raise EvalFileError(f"{path}: case {case.name!r}: a plain chat case needs 'messages' (or set 'prompt')")
        if spec.prompt is not None and case.messages:
            raise EvalFileError(f"{path}: case {case.name!r}: a prompt case takes 'vars', not 'messages'")
        if case.messages and case.messages[-1].role != "user":
            raise EvalFileError(f"{path}: case {case.name!r}: the last message must be the user's")
    return LoadedFile(path=path, spec=spec)


def find_eval_files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            raise EvalFileError(f"{path}: no such file or folder")
    if not found:
        raise EvalFileError(f"{', '.join(map(str, paths))}: no case files (*.yaml) found")
    return found


def _describe(exc: ValidationError, raw: Any) -> str:
    error = exc.errors()[0]
    loc = list(error["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "cases" and isinstance(loc[1], int):
        cases = raw.get("cases") if isinstance(raw, dict) else None
        name = cases[loc[1]].get("name") if isinstance(cases, list) and isinstance(cases[loc[1]], dict) else None
        where = f"case {name!r}: " if name else f"case {loc[1] + 1}: "
        loc = loc[2:]
    field = ".".join(str(part) for part in loc)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    elif error["type"] == "missing":
        message = "missing"
    return f"{where}{field + ': ' if field else ''}{message}"
