"""Settings, offline token counting and prompt files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.llm.turns import note_line
from bot.prompts import SYSTEM_VARIABLES, PromptError, load_system_prompt, parse_prompt
from bot.settings import ConfigError, load_settings
from bot.memory.conversation import StoredMessage
from bot.tokens import ENCODING_FILES, TokenCounter, encoding_name_for_model, seed_cache
from bot.memory.trimming import build_request, request_tokens

from .harness import SIGNING_SECRET, SlackSender

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "secret-value", "OPENAI_API_KEY": "sk-secret"}


def test_settings_defaults_and_types():
    settings = load_settings(BASE, env_file=None)
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.redis_url is None and settings.embedded_store
    assert settings.max_context_tokens == 16000 and settings.max_output_tokens == 1024
    assert settings.model_api_key() == "sk-secret"


def test_secrets_are_hidden_in_repr():
    settings = load_settings(BASE, env_file=None)
    shown = repr(settings) + str(settings)
    assert "xoxb-1" not in shown and "secret-value" not in shown and "sk-secret" not in shown


def test_local_model_server_needs_no_key():
    settings = load_settings({**BASE, "OPENAI_API_KEY": None, "OPENAI_BASE_URL": "http://localhost:11434/v1"}, env_file=None)
    assert settings.model_api_key() == "not-needed"


def test_missing_settings_are_named_in_one_line():
    with pytest.raises(ConfigError) as error:
        load_settings({}, env_file=None)
    message = str(error.value)
    assert "\n" not in message
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "OPENAI_API_KEY"):
        assert f"Missing setting {name}" in message


def test_an_empty_required_setting_is_a_missing_one():
    for name in ("SLACK_SIGNING_SECRET", "OPENAI_API_KEY"):
        with pytest.raises(ConfigError) as error:
            load_settings({**BASE, name: "  "}, env_file=None)
        assert str(error.value).startswith(f"Missing setting {name}: set it to"), error.value
    local = load_settings({**BASE, "OPENAI_API_KEY": "", "OPENAI_BASE_URL": "http://localhost:11434/v1"}, env_file=None)
    assert local.model_api_key() == "not-needed", "an empty key for a local server is no key, not a crash"


def test_a_distributable_app_needs_no_bot_token_but_both_oauth_credentials():
    base = {k: v for k, v in BASE.items() if k != "SLACK_BOT_TOKEN"}
    key = "u9rS6Ht7oM0v1k9JgkQGf2y7sbD3m6ZQ8X6nQeD4hAc="
    settings = load_settings({**base, "SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s", "TOKEN_ENCRYPTION_KEY": key},
                             env_file=None)
    assert settings.distributed and settings.bot_token() == ""
    with pytest.raises(ConfigError, match="Missing setting SLACK_CLIENT_SECRET: set it to the Client Secret"):
        load_settings({**base, "SLACK_CLIENT_ID": "1.2"}, env_file=None)
    both = load_settings({**BASE, "SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s"}, env_file=None)
    assert not both.distributed  # SLACK_BOT_TOKEN wins: one workspace


def test_inconsistent_budget_is_rejected():
    with pytest.raises(ConfigError, match="MAX_OUTPUT_TOKENS must be smaller than MAX_CONTEXT_TOKENS"):
        load_settings({**BASE, "MAX_CONTEXT_TOKENS": 1000, "MAX_OUTPUT_TOKENS": 1000}, env_file=None)


def test_env_file_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-file\nSLACK_SIGNING_SECRET=s\nOPENAI_API_KEY=k\nMAX_CONTEXT_TOKENS=9000\n")
    settings = load_settings()
    assert settings.slack_bot_token.get_secret_value() == "xoxb-from-file"
    assert settings.max_context_tokens == 9000


@pytest.mark.parametrize(
    ("model", "encoding"),
    [("gpt-4o", "o200k_base"), ("gpt-4o-mini", "o200k_base"), ("gpt-4.1", "o200k_base"), ("o3-mini", "o200k_base"),
     ("gpt-4", "cl100k_base"), ("gpt-3.5-turbo", "cl100k_base"), ("llama3.1:8b", "o200k_base"), ("openai/gpt-4", "cl100k_base")],
)
def test_encoding_for_model(model, encoding):
    assert encoding_name_for_model(model) == encoding


def test_cache_is_seeded_offline_and_checked(tmp_path):
    for name, (url, sha256) in ENCODING_FILES.items():
        path = seed_cache(tmp_path, name)
        assert path.name == hashlib.sha1(url.encode()).hexdigest()
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256


def test_corrupt_cache_file_is_replaced(tmp_path):
    url, sha256 = ENCODING_FILES["cl100k_base"]
    target = tmp_path / hashlib.sha1(url.encode()).hexdigest()
    target.write_bytes(b"garbage")
    seed_cache(tmp_path, "cl100k_base")
    assert hashlib.sha256(target.read_bytes()).hexdigest() == sha256


def cookbook_tokens(encoding, messages):
    """The OpenAI cookbook's count for a chat request ("How to count tokens with tiktoken")."""
    total = 3  # every reply is primed with <|start|>assistant<|message|>
    for message in messages:
        total += 3
        for value in message.values():
            total += len(encoding.encode(value))
    return total


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4"])
def test_counting_matches_the_cookbook(tmp_path, model):
    counter = TokenCounter.for_model(model, tmp_path)
    assert counter.count_text("hello world") == 2
    assert counter.count_message("hello world") == 2 + 3 + 1, "content, framing and the role"
    turns = [StoredMessage("user" if n % 2 == 0 else "assistant", f"turn {n}" + " words" * n,
                           counter.count_message(f"turn {n}" + " words" * n)) for n in range(12)]
    system, note = "You are a bot. Be brief.", "Today is Monday. The latest message is from alice."
    request = build_request(system, turns, note)
    fixed = counter.count_message(system) + counter.count_text(note_line(note))  # the note closes the latest user turn
    assert request_tokens(turns, fixed) == cookbook_tokens(counter.encoding, request)
    # A message ending in a space shares a token with the note's line break: counted one over, never under.
    spaced = [*turns[:-2], StoredMessage("user", "last ", counter.count_message("last "))]
    over = request_tokens(spaced, fixed) - cookbook_tokens(counter.encoding, build_request(system, spaced, note))
    assert over in (0, 1)


def test_shorten_keeps_head_and_tail_within_the_cap(tmp_path):
    counter = TokenCounter.for_model("gpt-4o", tmp_path)
    text = "BEGIN " + "filler words here " * 3000 + " FINISH"
    short = counter.shorten(text, 200)
    assert counter.count_text(short) <= 200
    assert short.startswith("BEGIN") and short.endswith("FINISH") and "cut to fit" in short
    assert counter.shorten("short", 200) == "short"
    dense = "START " + "a " * 700 + "END"  # over 200 tokens, yet short enough to be tokenised whole
    cut = counter.shorten(dense, 200)
    assert counter.count_text(cut) <= 200 and cut.startswith("START") and cut.endswith("END") and "cut to fit" in cut


def test_system_prompt_file_renders():
    prompt = load_system_prompt(Path(__file__).resolve().parent.parent / "prompts")
    assert prompt.header.name == "system" and prompt.header.version >= 1
    assert prompt.variables <= SYSTEM_VARIABLES
    text = prompt.render({"bot_name": "Ada", "date": "Monday", "user_name": "alice", "channel": "#general"})
    assert "Ada" in text and "#general" in text and "${" not in text
    # The same for every request of a conversation (cacheable): no speaker, no date.
    assert not prompt.variables & {"user_name", "date"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("no header", "must start with a '---'"),
        ("---\nname: x\nversion: 1\ncolour: red\n---\nbody", "unknown field 'colour'"),
        ("---\nversion: 1\n---\nbody", "missing field 'name'"),
        ("---\nname: x\nversion: 1\n---\nhello ${nobody}", "${nobody}"),
        ("---\nname: x\nversion: 1\n---\ncosts $5", "malformed"),
        ("---\nname: [unclosed\n---\nbody", "not valid YAML"),
    ],
)
def test_invalid_prompt_files_name_the_file_and_problem(text, problem):
    with pytest.raises(PromptError) as error:
        parse_prompt(text, Path("prompts/broken.md"), SYSTEM_VARIABLES)
    assert str(error.value).startswith("broken.md:") and problem in str(error.value)


def test_test_harness_signs_exactly_as_the_sdk_does():
    body = b'{"type":"event_callback"}'
    headers = SlackSender("http://unused").sign(body)
    verifier = SignatureVerifier(SIGNING_SECRET)
    assert verifier.is_valid(body=body.decode(), timestamp=headers["X-Slack-Request-Timestamp"], signature=headers["X-Slack-Signature"])


def test_every_setting_is_documented_in_the_readme_and_env_example():
    from pathlib import Path

    from bot.settings import Settings

    root = Path(__file__).resolve().parent.parent
    readme, example = (root / "docs" / "settings.md").read_text(), (root / ".env.example").read_text()
    for field in Settings.model_fields.values():
        assert f"| `{field.alias}` |" in readme, f"{field.alias} is missing from docs/settings.md"
        assert field.alias in example, f"{field.alias} is missing from .env.example"


def test_the_settings_page_is_generated_from_the_settings_class():
    """docs/settings.md is what bot/settings_doc.py writes from the class: every setting with its
    default and meaning, none forgotten, no default out of date."""
    from pathlib import Path

    from bot.settings import Settings
    from bot.settings_doc import settings_page

    page = (Path(__file__).resolve().parent.parent / "docs" / "settings.md").read_text()
    assert page == settings_page(), "run: python -m bot.settings_doc > docs/settings.md"
    assert all(field.description for field in Settings.model_fields.values()), "every setting says what it means"
    assert "| `MAX_CONTEXT_TOKENS` | `16000` |" in page and "| `SLACK_SIGNING_SECRET` | required |" in page
