"""The local console: the same pipeline as Slack, driven through its input and output streams."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from bot.console import run_console
from bot.runtime import build_core

from .fakes.openai_api import Scripted

ROOT = Path(__file__).resolve().parent.parent


async def chat(settings, lines: list[str]) -> str:
    core = await build_core(settings)
    output = io.StringIO()
    try:
        await run_console(core, io.StringIO("".join(line + "\n" for line in lines)), output)
    finally:
        await core.aclose()
    return output.getvalue()


async def test_console_conversation_commands_and_persona(settings_for, model):
    model.enqueue(Scripted(text="Nice to meet you, Ada.", chunk_chars=3))
    transcript = await chat(settings_for(), [
        "my name is Ada",
        "what is my name?",
        "/translate French good night",
        "/translate",
        "/assistant persona set Talk like a robot.",
        "beep?",
        "/summarize",
        "/quit",
    ])
    assert "bot> Nice to meet you, Ada.\n" in transcript
    first, second, translate, robot, summary = model.wait_for_requests(5)
    assert [m["content"] for m in second.dialogue] == ["my name is Ada", "Nice to meet you, Ada.", "what is my name?"]
    assert "into French" in translate.last_user_text and translate.last_user_text.endswith("good night")
    assert "Usage: `/translate <language> <text>`" in transcript
    assert "Persona set" in transcript
    system = robot.messages[0]["content"]
    assert system.startswith("You are Assistant") and system.endswith("Talk like a robot."), "the persona is added to the rules"
    assert "you: my name is Ada" in summary.last_user_text and "Assistant: Nice to meet you, Ada." in summary.last_user_text


async def test_console_model_failure_is_one_sentence(settings_for, model):
    model.enqueue(Scripted(status=500))
    transcript = await chat(settings_for(), ["hello?"])
    assert "bot> Sorry, I couldn't get an answer from the language model just now." in transcript
    assert "Traceback" not in transcript


def test_python_m_bot_chat_runs_without_slack_settings(model, tmp_path):
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "OPENAI_API_KEY": "sk-test",
           "OPENAI_BASE_URL": model.base_url, "TIKTOKEN_CACHE_DIR": str(tmp_path / "tiktoken")}
    result = subprocess.run([sys.executable, "-m", "bot", "chat"], cwd=ROOT, env=env, input="hello console\n/assistant model\n",
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "bot> Answer to: hello console" in result.stdout
    assert "answered by `gpt-4o-mini`" in result.stdout
