"""Prompt files are validated at start-up: one line naming the file and the problem."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.command_args import ArgumentError, HistoryRequest, parse_arguments, parse_history
from bot.prompts import PromptError, load_catalog

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", target)
    return target


def header(**fields: str) -> str:
    base = {"name": "x", "version": "1", "description": "X", "command": "/x", "usage": "<text>"}
    base.update(fields)
    lines = [f"{k}: {v}" for k, v in base.items() if v is not None]
    return "---\n" + "\n".join(lines) + "\narguments:\n  - name: text\n    kind: text\n---\n"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (header(colour="red") + "${text}", "x.md: unknown field 'colour'"),
        (header(name=None) + "${text}", "x.md: missing field 'name'"),
        (header() + "${text} in ${language}", "x.md: the body uses ${language}, which the command cannot supply"),
        (header(command="ask") + "${text}", "x.md: field 'command': must look like /name"),
        (header(visibility="everyone") + "${text}", "x.md: field 'visibility'"),
        (header(description='""') + "${text}", "a prompt with a command needs a description"),
        (header(command="/assistant") + "${text}", "x.md: /assistant is the bot's own management command"),
        (header(command="/ask") + "${text}", "x.md: /ask is already declared by ask.md"),
        (header(name="ask", command="/other") + "${text}", "x.md: the name 'ask' is already used by ask.md"),
    ],
)
def test_invalid_prompt_files_stop_loading_with_one_line(folder, content, problem):
    (folder / "x.md").write_text(content)
    with pytest.raises(PromptError) as error:
        load_catalog(folder, reserved_commands=frozenset({"/assistant"}))
    assert problem in str(error.value) and "\n" not in str(error.value)


def test_the_shipped_prompts_load():
    catalog = load_catalog(ROOT / "prompts", reserved_commands=frozenset({"/assistant"}))
    assert set(catalog.commands) == {"/ask", "/summarize", "/translate", "/rewrite"}
    assert catalog.system.header.command is None


def test_start_up_stops_on_a_bad_prompt_file_with_one_line(folder):
    (folder / "x.md").write_text(header(colour="red") + "${text}")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "PROMPTS_DIR": str(folder),
           "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "OPENAI_API_KEY": "k"}
    result = subprocess.run([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == "error: Invalid prompt file x.md: unknown field 'colour'"
    assert "Traceback" not in result.stderr


def test_arguments_parse_in_order():
    catalog = load_catalog(ROOT / "prompts")
    translate = catalog.prompts["translate"].header.arguments
    assert parse_arguments(translate, "German  good\nmorning") == ({"language": "German", "text": "good\nmorning"}, None)
    with pytest.raises(ArgumentError):
        parse_arguments(translate, "German")
    rewrite = catalog.prompts["rewrite"].header.arguments
    assert parse_arguments(rewrite, "Concise make it short")[0] == {"tone": "concise", "text": "make it short"}
    assert parse_arguments(rewrite, "make it short")[0] == {"tone": "clear and natural", "text": "make it short"}


def test_history_argument():
    assert parse_history("") == HistoryRequest()
    assert parse_history("25") == HistoryRequest(count=25)
    with pytest.raises(ArgumentError):
        parse_history("500")
    with pytest.raises(ArgumentError):
        parse_history("yesterday")
    top = parse_history("<https://acme.slack.com/archives/C123ABC/p1700000000000100>")
    assert (top.channel, top.thread_ts) == ("C123ABC", "1700000000.000100")
    reply = parse_history("https://acme.slack.com/archives/C1/p1700000050000100?thread_ts=1700000000.000100&cid=C1")
    assert reply.thread_ts == "1700000000.000100"
