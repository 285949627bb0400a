"""The command line as a new user meets it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .harness import SlackSender, mention

ROOT = Path(__file__).resolve().parent.parent


def run_bot(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def bare_env(**extra: str) -> dict[str, str]:
    # No fixed metrics port (Socket Mode's default 9090 may be taken on the machine running the tests).
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "METRICS_PORT": "0"}
    env.update(extra)
    return env


def test_missing_slack_settings_print_one_line_naming_them(tmp_path):
    result = run_bot("serve", env=bare_env(PYTHONPATH=str(ROOT)))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SLACK_BOT_TOKEN" in lines[0] and "SLACK_SIGNING_SECRET" in lines[0] and "OPENAI_API_KEY" in lines[0]
    assert "Traceback" not in result.stderr


def test_invalid_setting_is_named_without_echoing_secrets():
    result = run_bot("serve", env=bare_env(SLACK_BOT_TOKEN="not-a-bot-token-secret", SLACK_SIGNING_SECRET="s",
                                          OPENAI_API_KEY="k", MAX_CONTEXT_TOKENS="lots"))
    assert result.returncode == 2
    assert "Invalid setting SLACK_BOT_TOKEN" in result.stderr and "MAX_CONTEXT_TOKENS" in result.stderr
    assert "not-a-bot-token-secret" not in result.stderr


def test_socket_mode_without_app_token_says_what_to_set():
    result = run_bot("socket", env=bare_env(SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s", OPENAI_API_KEY="k"))
    assert result.returncode == 2
    assert "SLACK_APP_TOKEN" in result.stderr and "Traceback" not in result.stderr


def test_unreachable_redis_is_one_line(slack, tiktoken_cache):
    result = run_bot("serve", env=bare_env(SLACK_BOT_TOKEN="xoxb-test-token", SLACK_SIGNING_SECRET="s", OPENAI_API_KEY="k",
                                          SLACK_API_URL=slack.base_url, REDIS_URL="redis://127.0.0.1:1/0",
                                          TIKTOKEN_CACHE_DIR=tiktoken_cache))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: Cannot reach Redis at REDIS_URL")


def test_serve_answers_a_signed_mention_end_to_end(slack, model, tmp_path):
    """The README's run command, pointed at local fakes, embedded store."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = bare_env(SLACK_BOT_TOKEN="xoxb-test-token", SLACK_SIGNING_SECRET="test-signing-secret", OPENAI_API_KEY="sk-test",
                   SLACK_API_URL=slack.base_url, OPENAI_BASE_URL=model.base_url, TIKTOKEN_CACHE_DIR=str(tmp_path / "tiktoken"))
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.1)
        sender = SlackSender(f"http://127.0.0.1:{port}")
        event = mention("hello from the CLI")
        assert sender.send_event(event).status_code == 200
        [answer] = slack.wait_for_answers(1)
        assert answer.thread_ts == event["ts"] and answer.text == "Answer to: alice: hello from the CLI"
        sender.close()
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "embedded in-process store" in stderr
    assert (tmp_path / "tiktoken").is_dir(), "the tokenizer cache was seeded offline"


def test_socket_mode_with_a_rejected_app_token_is_one_line(slack, model, tiktoken_cache):
    result = run_bot("socket", timeout=30, env=bare_env(
        SLACK_BOT_TOKEN="xoxb-test-token", SLACK_SIGNING_SECRET="s", OPENAI_API_KEY="k", SLACK_APP_TOKEN="xapp-1-revoked",
        SLACK_API_URL=slack.base_url, OPENAI_BASE_URL=model.base_url, TIKTOKEN_CACHE_DIR=tiktoken_cache))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: Slack rejected SLACK_APP_TOKEN (invalid_auth)"), result.stderr
    assert "Traceback" not in result.stderr and "xapp-1-revoked" not in result.stderr


def _stops_at_once_on(sig: int, args: list[str], env: dict[str, str], ready: str) -> tuple[int, float]:
    """Start ``python -m bot ARGS``, wait for ``ready`` on its output, send ``sig``: (exit code, seconds to stop)."""
    process = subprocess.Popen([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = ""
        deadline = time.monotonic() + 30
        while ready not in seen:
            assert time.monotonic() < deadline and process.poll() is None, seen
            seen += process.stdout.read(1)
        time.sleep(0.2)
        process.send_signal(sig)
        started = time.monotonic()
        code = process.wait(15)
        return code, time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_ctrl_c_ends_the_console_at_once(model, tiktoken_cache):
    import signal

    env = bare_env(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=model.base_url, TIKTOKEN_CACHE_DIR=tiktoken_cache,
                   PYTHONPATH=str(ROOT))
    code, took = _stops_at_once_on(signal.SIGINT, ["chat"], env, ready="you> ")
    assert took < 3 and code == 0


def test_sigterm_ends_the_console_at_once(model, tiktoken_cache):
    import signal

    env = bare_env(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=model.base_url, TIKTOKEN_CACHE_DIR=tiktoken_cache,
                   PYTHONPATH=str(ROOT))
    code, took = _stops_at_once_on(signal.SIGTERM, ["chat"], env, ready="you> ")
    assert took < 3 and code == 0


def test_sigterm_stops_socket_mode_at_once_even_while_it_cannot_connect(slack, model, tiktoken_cache):
    import signal

    env = bare_env(SLACK_BOT_TOKEN="xoxb-test-token", SLACK_SIGNING_SECRET="s", OPENAI_API_KEY="k",
                   SLACK_APP_TOKEN=slack.app_token, SLACK_API_URL=slack.base_url, OPENAI_BASE_URL=model.base_url,
                   TIKTOKEN_CACHE_DIR=tiktoken_cache, PYTHONPATH=str(ROOT))
    code, took = _stops_at_once_on(signal.SIGTERM, ["socket"], env, ready="ready as")
    assert took < 5 and code == 0


def test_a_taken_metrics_port_is_one_line(slack, model, tiktoken_cache):
    import socket

    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_bot("socket", env=bare_env(
            SLACK_BOT_TOKEN="xoxb-test-token", SLACK_SIGNING_SECRET="s", OPENAI_API_KEY="k", SLACK_APP_TOKEN=slack.app_token,
            SLACK_API_URL=slack.base_url, OPENAI_BASE_URL=model.base_url, TIKTOKEN_CACHE_DIR=tiktoken_cache,
            PYTHONPATH=str(ROOT), METRICS_PORT=str(port)))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: Cannot serve metrics on METRICS_PORT {port} (Address already in use): set METRICS_PORT to a free port, "
        "or 0 for none.")
