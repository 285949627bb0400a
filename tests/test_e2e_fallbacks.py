"""FALLBACK_MODELS: when the asked model refuses before writing anything (429, 5xx) or its
circuit breaker is open, the next model answers the same request; people see only the answer,
the ledger, the answer's record and the metrics name the model that answered."""

from __future__ import annotations

import json

from bot.memory.conversation import ConversationId

from .fakes.openai_api import Scripted
from .fakes.slack_api import TEAM_ID
from .harness import mention_answered
from .test_cli import bare_env, run_bot


def test_a_refusing_model_hands_over_and_an_open_breaker_is_skipped(start_app, slack, model, redis_url, key_prefix):
    app = start_app(FALLBACK_MODELS="gpt-4.1,llama3.3", MODEL_BREAKER_FAILURES=1, MODEL_BREAKER_COOLDOWN_SECONDS=60,
                    MODEL_MAX_RETRIES=0)
    model.enqueue(Scripted(status=503), Scripted(text="From the fallback."), Scripted(text="Again from it."))
    event = mention_answered(app, slack, "hello", answers=1)
    [answer] = slack.wait_for_answers(1)
    assert answer.text == "From the fallback."
    assert [r.body["model"] for r in model.requests] == ["gpt-4o-mini", "gpt-4.1"]
    record = app.call(lambda: app.runtime.core.store.load(ConversationId(TEAM_ID, "C100", event["ts"]))).last_answer
    assert record["model"] == "gpt-4.1"

    mention_answered(app, slack, "hello again", answers=2)  # the first model's breaker is open: not asked at all
    assert [r.body["model"] for r in model.requests] == ["gpt-4o-mini", "gpt-4.1", "gpt-4.1"]
    metrics = app.runtime.core.metrics.exposition().decode()
    assert 'assistant_model_fallbacks_total{from_model="gpt-4o-mini",reason="http 503",to_model="gpt-4.1"} 1.0' in metrics
    assert 'assistant_model_fallbacks_total{from_model="gpt-4o-mini",reason="unavailable",to_model="gpt-4.1"} 1.0' in metrics
    rows = json.loads(run_bot("usage", "--by", "model", "--json",
                              env=bare_env(REDIS_URL=redis_url, REDIS_KEY_PREFIX=key_prefix)).stdout)["rows"]
    assert [(row["model"], row["calls"]) for row in rows] == [("gpt-4.1", 2)]


def test_no_handover_for_a_bad_request_or_once_text_was_shown(start_app, slack, model):
    app = start_app(FALLBACK_MODELS="gpt-4.1", MODEL_MAX_RETRIES=0)
    model.enqueue(Scripted(status=400))
    mention_answered(app, slack, "first", answers=1)
    assert [r.body["model"] for r in model.requests] == ["gpt-4o-mini"], "the request itself was refused: no other model"
    model.enqueue(Scripted(text="Half an answer that then", chunk_chars=5, delay=0.1, cut_after=4))  # read before the cut
    mention_answered(app, slack, "second", answers=2)
    assert [r.body["model"] for r in model.requests] == ["gpt-4o-mini", "gpt-4o-mini"]
    shown = [str(c.params.get("text")) for c in slack.calls if c.method in ("chat.postMessage", "chat.update")]
    assert any(text.startswith("Half") for text in shown), "text was shown before the connection was cut"
