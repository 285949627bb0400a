"""Prompt experiments: a prompt file's variants share the conversations by weight, a
conversation keeps its variant, each answer records it, and `python -m bot report` sets the
variants side by side (table, JSON, HTML)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bot.memory.conversation import ConversationId
from bot.prompts import parse_prompt, SYSTEM_VARIABLES

from .fakes.slack_api import TEAM_ID
from .harness import mention, new_ts, settled, SlackSender
from .test_cli import bare_env, run_bot

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
CONCISE = "Answer in at most three sentences."
VARIANTS = f"""variants:
  - name: control
  - name: concise
    instructions: {CONCISE}
    model: gpt-4.1
"""


def experiment_prompts(tmp_path: Path) -> Path:
    folder = tmp_path / "prompts"
    shutil.copytree(PROMPTS, folder)
    system = folder / "system.md"
    system.write_text(system.read_text().replace("version: 6\n", "version: 7\n" + VARIANTS, 1))
    return folder


def test_variants_share_conversations_which_keep_theirs_and_the_report_compares_them(
        start_app, slack, model, tmp_path, redis_url, key_prefix):
    folder = experiment_prompts(tmp_path)
    prompt = parse_prompt((folder / "system.md").read_text(), folder / "system.md", SYSTEM_VARIABLES)
    app = start_app(PROMPTS_DIR=str(folder))
    sender = SlackSender(app.url)
    threads = [new_ts() for _ in range(8)]
    expected = {ts: prompt.variant_for(str(ConversationId(TEAM_ID, "C100", ts))).name for ts in threads}
    assert set(expected.values()) == {"control", "concise"}, "pick other thread times: both variants should be drawn"
    try:
        for ts in threads:
            sender.send_event(mention("hello", ts=ts))
            slack.wait_for_answers(threads.index(ts) + 1)
        first = threads[0]
        sender.send_event(mention("and again", thread_ts=first))
        answers = slack.wait_for_answers(len(threads) + 1)
        settled(app)
        seen = [(CONCISE in r.messages[0]["content"], r.body["model"]) for r in model.requests]
        wanted = [(expected[ts] == "concise", "gpt-4.1" if expected[ts] == "concise" else "gpt-4o-mini") for ts in threads]
        assert seen[: len(threads)] == wanted
        assert seen[-1] == wanted[0], "the conversation kept its variant"
        records = [app.call(lambda ts=ts: app.runtime.core.store.load(ConversationId(TEAM_ID, "C100", ts))) for ts in threads]
        assert [r.last_answer["variant"] for r in records] == [expected[ts] for ts in threads]
        assert records[0].last_answer["request"]["variant"] == expected[threads[0]]
        up = next(a for a in answers if a.thread_ts == threads[1])
        sender.send_action("feedback_up", up, response_url=slack.response_url("rate"), user="U2")
        slack.wait_for_response("rate")
    finally:
        sender.close()

    env = bare_env(REDIS_URL=redis_url, REDIS_KEY_PREFIX=key_prefix)
    page = tmp_path / "report.html"
    result = run_bot("report", "--since", "1d", "--experiment", "system", "--json", "--html", str(page), env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows = {(row["variant"], row["model"]): row for row in report["rows"]}
    counts = {variant: sum(1 for ts in threads if expected[ts] == variant) for variant in ("control", "concise")}
    assert rows[("concise", "gpt-4.1")]["answers"] == counts["concise"] + (expected[threads[0]] == "concise")
    assert rows[("control", "gpt-4o-mini")]["answers"] == counts["control"] + (expected[threads[0]] == "control")
    rated_variant = expected[threads[1]]
    rated_row = next(row for (variant, _), row in rows.items() if variant == rated_variant)
    assert rated_row["ratings"] == {"up": 1, "n": 1, "share": 1.0, "ci95": rated_row["ratings"]["ci95"]}
    [experiment] = report["experiments"]
    assert experiment["winner"] is None and experiment["verdict"].startswith("not yet enough data")
    assert "<svg" in page.read_text() and "not yet enough data" in page.read_text()
    table = run_bot("report", env=env).stdout
    assert "concise" in table and "control" in table and "Experiment system v7" in table
