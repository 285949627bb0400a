"""Rubrics: how live answers are judged (``prompts/rubrics/<name>.md``, a header with name and
version like a prompt file, the rubric as the body).  A prompt file names its rubric
(``rubric:``); otherwise ``default`` applies."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.prompts import PromptCatalog, PromptError, parse_prompt

RUBRICS_DIR = "rubrics"
DEFAULT_RUBRIC = "default"


@dataclass(frozen=True)
class Rubric:
    name: str
    version: int
    text: str


class Rubrics:
    def __init__(self, rubrics: dict[str, Rubric], chosen: dict[str, str]) -> None:
        self.rubrics = rubrics
        self.chosen = chosen  # prompt name -> rubric name

    def for_prompt(self, prompt: str) -> Rubric | None:
        name = self.chosen.get(prompt.removesuffix("+persona"), DEFAULT_RUBRIC)
        return self.rubrics.get(name)


def load_rubrics(prompts_dir: Path, catalog: PromptCatalog) -> Rubrics:
    """Every rubric file, and each prompt's choice; a prompt naming a missing rubric is a PromptError."""
    rubrics: dict[str, Rubric] = {}
    for path in sorted((prompts_dir / RUBRICS_DIR).glob("*.md")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise PromptError(f"{RUBRICS_DIR}/{path.name}: cannot be read as UTF-8 text") from None
        parsed = parse_prompt(text.replace("$", "$$"), path, frozenset())  # a rubric has no variables: $ is literal
        rubrics[parsed.name] = Rubric(parsed.name, parsed.header.version, parsed.render({}))
    chosen: dict[str, str] = {}
    for prompt in [catalog.system, *catalog.prompts.values()]:
        name = prompt.header.rubric or DEFAULT_RUBRIC
        if prompt.header.rubric and name not in rubrics:
            raise PromptError(f"{prompt.path.name}: names the rubric '{name}', but {RUBRICS_DIR}/{name}.md does not exist")
        chosen[prompt.name] = name
    return Rubrics(rubrics, chosen)
