"""ONLINE_EVAL_SAMPLE_RATE: live answers judged after delivery, off the answer's path, with the
eval judge's prompt and verdict against the prompt's rubric; the score in the metrics, the
quality log and (the judge's cost, apart) the ledger."""

from __future__ import annotations

import json
import re
import threading

from .fakes.openai_api import Scripted
from .harness import SlackSender, eventually, mention, mention_answered, settled
from .test_cli import bare_env, run_bot


def histogram(app, suffix: str) -> dict[str, float]:
    text = app.runtime.core.metrics.exposition().decode()
    return {labels: float(value) for labels, value in
            re.findall(rf"^assistant_online_eval_score_{suffix}\{{([^}}]*)\}} (\S+)$", text, re.M)}


def test_a_sampled_answer_is_judged_after_delivery_and_its_score_kept(start_app, slack, model, redis_url, key_prefix):
    app = start_app(ONLINE_EVAL_SAMPLE_RATE=1, JUDGE_MODEL="gpt-4.1")
    verdict_held = threading.Event()
    model.enqueue(Scripted(text="Paris is the capital of France."),
                  Scripted(text="PASS\nIt answers the question.", gate=verdict_held))
    sender = SlackSender(app.url)
    try:
        sender.send_event(mention("what is the capital of France?"))
        [answer] = slack.wait_for_answers(1)  # shown while the judge has not answered yet
        assert answer.text == "Paris is the capital of France."
        judged = model.wait_for_requests(2)[1]
        verdict_held.set()
        eventually(lambda: histogram(app, "count"), "the score in the metrics")
        settled(app)
    finally:
        sender.close()
    assert judged.body["model"] == "gpt-4.1" and judged.body.get("temperature") == 0
    prompt = judged.messages[0]["content"]
    assert "PASS when the answer does what the latest message asks" in prompt  # prompts/rubrics/default.md
    assert "Paris is the capital of France." in prompt and "what is the capital of France?" in prompt
    labels = 'model="gpt-4o-mini",prompt="system",variant="",version="6"'
    assert histogram(app, "count") == {labels: 1.0} and histogram(app, "sum") == {labels: 1.0}

    signals = app.call(lambda: app.runtime.core.guards.quality.read())
    assert [s.kind for s in signals] == ["answer", "score"]
    assert signals[1].values["score"] == 1.0 and signals[1].answer == signals[0].answer
    assert signals[0].values["latency_ms"] >= 0 and signals[1].arm.prompt == "system"

    rows = json.loads(run_bot("usage", "--by", "prompt", "--json",
                              env=bare_env(REDIS_URL=redis_url, REDIS_KEY_PREFIX=key_prefix)).stdout)["rows"]
    judge = next(row for row in rows if row["prompt"] == "online-eval")
    assert judge["calls"] == 1 and judge["input_tokens"] > 0
    users = json.loads(run_bot("usage", "--by", "user", "--json",
                               env=bare_env(REDIS_URL=redis_url, REDIS_KEY_PREFIX=key_prefix)).stdout)["rows"]
    assert [row["calls"] for row in users] == [1], "the judge's call counts for nobody's quota"


def test_a_failing_verdict_scores_zero_and_unsampled_answers_are_not_judged(start_app, slack, model):
    app = start_app(ONLINE_EVAL_SAMPLE_RATE=1)
    model.enqueue(Scripted(text="Maybe Lyon."), Scripted(text="**FAIL**\nWrong city."))
    sender = SlackSender(app.url)
    try:
        sender.send_event(mention("what is the capital of France?"))
        slack.wait_for_answers(1)
        eventually(lambda: histogram(app, "count"), "the score in the metrics")
        settled(app)
    finally:
        sender.close()
    assert list(histogram(app, "sum").values()) == [0.0]

    mention_answered(start_app(ONLINE_EVAL_SAMPLE_RATE=0), slack, "and of Spain?", 2)
    assert len(model.requests) == 3, "no judge request without sampling"
