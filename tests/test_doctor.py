"""``python -m bot check`` against the fake Slack and model and the real Redis: every line
passing, and each failing one naming what to fix."""

from __future__ import annotations

import pytest

from bot.cli import main

from .fakes.slack_api import BOT_TOKEN
from .harness import SIGNING_SECRET


@pytest.fixture
def check(slack, model, redis_url, tiktoken_cache, monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    values = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.base_url,
              "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": model.base_url, "OPENAI_MODEL": "gpt-4o-mini",
              "REDIS_URL": redis_url, "TIKTOKEN_CACHE_DIR": tiktoken_cache}
    for name, value in values.items():
        monkeypatch.setenv(name, value)

    def run() -> tuple[int, list[str]]:
        code = main(["check"])
        return code, capsys.readouterr().out.splitlines()

    return run


def test_everything_passes(check):
    code, lines = check()
    assert code == 0, lines
    assert lines[-1] == "all checks passed"
    assert all(line.startswith(("✓", "!")) for line in lines[:-1])
    text = "\n".join(lines)
    for expected in ("✓ Slack token accepted", "✓ the token holds every scope", "✓ the model endpoint answers and serves gpt-4o-mini",
                     "✓ Redis", "✓ prompt files valid", "✓ eval files valid", "✓ OPENAI_MODEL gpt-4o-mini is priced"):
        assert expected in text


def test_each_failure_names_what_to_fix(check, slack, model, monkeypatch, tmp_path):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-wrong")
    code, lines = check()
    assert code == 1 and any(l.startswith("✗ Slack rejected SLACK_BOT_TOKEN (invalid_auth)") for l in lines)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)

    slack.granted_scopes.remove("files:read")
    model.missing_models.add("gpt-4o-mini")
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "bad.yaml").write_text("prompt: translate\ncases:\n  - name: x\n    expect: [{contains: y}]\n")
    monkeypatch.setenv("EVALS_DIR", str(tmp_path / "evals"))
    code, lines = check()
    text = "\n".join(lines)
    assert code == 1
    assert "✗ the token lacks scopes files:read: print the manifest" in text
    assert "✗ OPENAI_BASE_URL has no model 'gpt-4o-mini' (it serves gpt-4.1, llama3.3): set OPENAI_MODEL to one it serves" in text
    assert "✗ invalid eval file" in text and "case 'x': vars lacks language, text" in text
    assert lines[-1] == "3 check(s) failed"


def test_an_unpriced_model_a_dead_redis_and_a_bad_setting(check, monkeypatch):
    monkeypatch.setenv("OPENAI_MODEL", "llama3.3")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")
    code, lines = check()
    text = "\n".join(lines)
    assert code == 1
    assert "! OPENAI_MODEL 'llama3.3' has no price in PRICES_FILE" in text, "a local model may cost nothing: a warning"
    assert "✗ Redis at REDIS_URL does not answer (ConnectionError): start it or fix the URL" in text
    monkeypatch.setenv("TEAM_MONTHLY_COST_LIMIT_USD", "50")
    code, lines = check()
    assert any(line.startswith("✗ OPENAI_MODEL 'llama3.3' has no price") and "cannot hold" in line for line in lines)
    monkeypatch.setenv("MAX_OUTPUT_TOKENS", "lots")
    code, lines = check()
    assert code == 1 and lines[0].startswith("✗ settings: Invalid setting MAX_OUTPUT_TOKENS")


def test_any_eviction_policy_but_noeviction_is_a_warning():
    from bot.operations.doctor import memory_policy_line

    for policy in ("volatile-lru", "volatile-ttl", "allkeys-lru", "volatile-random"):
        line = memory_policy_line(policy, 1 << 30)
        assert line.warning and "set maxmemory-policy noeviction" in line.text, policy
    assert not memory_policy_line("noeviction", 1 << 30).warning
    assert not memory_policy_line("volatile-lru", 0).warning  # no memory limit: nothing is evicted


def test_a_server_that_only_lists_its_models_passes(check, model):
    model.lists_only = True  # vLLM: no GET /v1/models/{id}
    code, lines = check()
    assert code == 0 and "✓ the model endpoint answers and lists gpt-4o-mini" in lines, lines
    model.listed_models.discard("gpt-4o-mini")
    code, lines = check()
    assert code == 1 and any(line.startswith("✗ OPENAI_BASE_URL has no model 'gpt-4o-mini'") for line in lines)


def test_every_file_is_checked_even_when_one_is_bad_and_each_problem_is_said_once(check, monkeypatch, tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "system.md").write_text("---\nname: system\nversion: nine\n---\nYou help.\n")
    (tmp_path / "prices.yaml").write_text("gpt-4o-mini: [not, a, price]\n")
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "schema.yaml").write_text(
        "messages: [{role: user, content: hi}]\ncases:\n  - name: bad schema\n    expect: [{json_schema: {type: 12}}]\n")
    (tmp_path / "mcp.json").write_text("{not json")
    for name, value in (("PROMPTS_DIR", "prompts"), ("PRICES_FILE", "prices.yaml"), ("EVALS_DIR", "evals"),
                        ("MCP_CONFIG", "mcp.json")):
        monkeypatch.setenv(name, str(tmp_path / value))
    code, lines = check()
    text = "\n".join(lines)
    assert code == 1
    assert "✗ invalid prompt file" in text
    assert "✗ invalid eval file" in text and "'json_schema' is not a valid JSON Schema" in text, text
    assert text.count("PRICES_FILE") == 1 and "✗ invalid PRICES_FILE" in text
    assert "✗ invalid MCP_CONFIG" in text
    assert lines[-1] == "4 check(s) failed"


def test_an_empty_secret_is_one_line_in_the_doctor(check, monkeypatch):
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "")
    code, lines = check()
    assert code != 0 and lines[0].startswith("✗ settings: Missing setting SLACK_SIGNING_SECRET: set it to")



def test_guardrails_are_checked_when_switched_on(check, model, monkeypatch, tmp_path):
    import shutil
    from pathlib import Path

    monkeypatch.setenv("MODERATION", "input")
    monkeypatch.setenv("ONLINE_EVAL_SAMPLE_RATE", "0.1")
    code, lines = check()
    assert code == 0, lines
    assert "✓ the moderations endpoint answers (omni-moderation-latest, MODERATION=input)" in lines
    assert "✓ rubrics valid (2; 10% of answers judged)" in lines

    prompts = tmp_path / "prompts"
    shutil.copytree(Path(__file__).resolve().parent.parent / "prompts", prompts)
    (prompts / "rubrics" / "summary.md").unlink()
    monkeypatch.setenv("PROMPTS_DIR", str(prompts))
    model.moderation_status = 500
    code, lines = check()
    assert code == 1
    assert any(line.startswith("✗ the moderations endpoint failed for 'omni-moderation-latest' (HTTP 500)") for line in lines)
    assert "✗ invalid rubric summarize.md: names the rubric 'summary', but rubrics/summary.md does not exist" in lines


def test_the_routes_file_is_checked(check, monkeypatch, tmp_path):
    routes = tmp_path / "routes.yaml"
    routes.write_text("routes:\n  - name: dms\n    when: {surface: dm}\n    model: gpt-4.1\n"
                      "    api_key: ${DM_KEY}\n")
    monkeypatch.setenv("MODEL_ROUTES", str(routes))
    monkeypatch.setenv("DM_KEY", "k")
    code, lines = check()
    assert code == 0 and "✓ MODEL_ROUTES valid (1 routes to gpt-4.1)" in lines
    monkeypatch.delenv("DM_KEY")
    code, lines = check()
    assert code == 1
    assert "✗ invalid MODEL_ROUTES routes.yaml: route dms: the environment has no DM_KEY (set it, or remove ${DM_KEY})" in lines


def test_team_knowledge_is_checked(check, model, monkeypatch, redis_url, key_prefix):
    import redis

    from bot.knowledge.records import KnowledgeKeys
    from bot.memory.conversation import Keys

    monkeypatch.setenv("REDIS_KEY_PREFIX", key_prefix)
    code, lines = check()
    assert code == 0, lines
    assert "✓ the embeddings endpoint answers (text-embedding-3-small, 1536 dimensions)" in lines
    assert "✓ team knowledge: 0 sources, searched in each bot process" in lines

    client = redis.Redis.from_url(redis_url)
    client.set(KnowledgeKeys(Keys(key_prefix).base).embedding, "text-embedding-3-small:1536")
    client.close()
    monkeypatch.setenv("EMBEDDING_DIMENSIONS", "256")
    code, lines = check()
    assert code == 1 and "✗ team knowledge was embedded with text-embedding-3-small:1536, EMBEDDING_MODEL gives " \
                         "text-embedding-3-small:256: run `python -m bot knowledge reindex`" in lines
    model.embeddings_status = 500
    code, lines = check()
    assert "✗ the embeddings endpoint failed for EMBEDDING_MODEL 'text-embedding-3-small' (embeddings HTTP 500): " \
           "answers go without team knowledge" in lines
