"""GET /metrics after a scripted sequence: prometheus-client's real exposition, parsed."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from .fakes.openai_api import Scripted
from .harness import SlackSender, mention
from .harness import eventually
from .test_e2e_usage import ask


def samples(app) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{app.url}/metrics", timeout=5)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def test_metrics_count_answers_tokens_cost_refusals_slack_calls_and_ratings(start_app, slack, model):
    app = start_app(USER_DAILY_TOKEN_LIMIT=1000)
    model.enqueue(Scripted(text="One.", usage=(1000, 400, 100)))
    ask(app, slack, "first", answers=1)
    ask(app, slack, "second", answers=1, stored=False)
    slack.wait_for(lambda s: [e for e in s.ephemeral if "tokens for today" in e.get("text", "")])
    [answer] = slack.posts()
    sender = SlackSender(app.url)
    try:
        sender.send_action("feedback_up", answer, response_url=slack.response_url("up"))
        slack.wait_for_response("up")
    finally:
        sender.close()

    # The refused message's handler ends just after its note reaches Slack: wait for it to be done.
    found = eventually(lambda: (figures := samples(app))[("assistant_answers_in_flight", ())] == 0 and figures,
                       "no answer in flight")
    assert found[("assistant_answers_total", (("outcome", "answered"), ("surface", "mention")))] == 1
    assert found[("assistant_answers_total", (("outcome", "over_quota"), ("surface", "mention")))] == 1
    assert found[("assistant_quota_refusals_total", (("limit", "USER_DAILY_TOKEN_LIMIT"),))] == 1
    tokens = {kind: found[("assistant_model_tokens_total", (("kind", kind), ("model", "gpt-4o-mini")))]
              for kind in ("input", "cached_input", "output")}
    assert tokens == {"input": 1000, "cached_input": 400, "output": 100}
    cost = found[("assistant_model_cost_usd_total", (("model", "gpt-4o-mini"),))]
    assert abs(cost - (600 * 0.15 + 400 * 0.075 + 100 * 0.60) / 1e6) < 1e-12
    assert found[("assistant_answer_seconds_count", ())] == 1
    assert found[("assistant_time_to_first_token_seconds_count", ())] == 1
    assert found[("assistant_answers_in_flight", ())] == 0
    assert found[("assistant_feedback_total", (("rating", "up"),))] == 1
    assert found[("assistant_slack_calls_total", (("method", "chat.postMessage"), ("outcome", "ok")))] >= 1
    assert found[("assistant_slack_calls_total", (("method", "chat.postEphemeral"), ("outcome", "ok")))] >= 1


def test_slack_errors_are_counted(start_app, slack, model):
    app = start_app()
    slack.fail_next("chat.postMessage", "not_in_channel")
    sender = SlackSender(app.url)
    try:
        sender.send_event(mention("hello"))
    finally:
        sender.close()
    model.wait_for_requests(1)

    eventually(lambda: samples(app).get(
        ("assistant_slack_calls_total", (("method", "chat.postMessage"), ("outcome", "error")))) == 1,
        "the refused post to be counted")  # counted once its error is back in the bot


def test_slack_rate_limits_are_counted_per_method(start_app, slack, model):
    app = start_app(SLACK_STREAMING="off")
    slack.fail_next("chat.update", "ratelimited", status=429, retry_after=1)
    model.enqueue(Scripted(text="A long enough answer " * 20, chunk_chars=10, delay=0.02))
    ask(app, slack, "hello", answers=1)
    eventually(lambda: samples(app).get(("assistant_slack_rate_limited_total", (("method", "chat.update"),))) == 1,
               "the 429 to be counted")


def test_the_dashboard_only_charts_metrics_the_bot_exports():
    import json
    import re
    from pathlib import Path

    from bot.observability.metrics import Metrics

    dashboard = json.loads((Path(__file__).resolve().parent.parent / "deploy" / "grafana-dashboard.json").read_text())
    exported = {sample.name for family in Metrics().registry.collect() for sample in family.samples} | {
        f"{family.name}_total" for family in Metrics().registry.collect() if family.type == "counter"}
    exported |= {f"{family.name}{part}" for family in Metrics().registry.collect() if family.type == "histogram"
                 for part in ("_sum", "_count", "_bucket")}  # a labelled histogram has no samples until observed
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"\bassistant_[a-z_]+", expr)}
    assert used and used <= exported | {f"{name}_bucket" for name in exported}, used - exported
    assert {"assistant_answers_total", "assistant_model_cost_usd_total", "assistant_time_to_first_token_seconds_bucket"} <= used


def test_json_logs_have_one_line_per_answer_with_its_figures_and_no_text(start_process, slack, model):
    import json

    process = start_process(LOG_FORMAT="json", LOG_LEVEL="INFO")
    model.enqueue(Scripted(text="The secret plan is blue.", usage=(1000, 400, 100)))
    sender = SlackSender(process.url)
    try:
        sender.send_event(mention("tell me the private roadmap"))
    finally:
        sender.close()
    slack.wait_for_answers(1)

    def answer_lines() -> list[dict]:
        lines = [json.loads(line) for line in process.log().splitlines() if line.startswith("{")]
        return [line["answer"] for line in lines if "answer" in line]

    [answer] = eventually(answer_lines, "the answer's log line")
    assert answer["outcome"] == "answered" and answer["surface"] == "mention" and answer["model"] == "gpt-4o-mini"
    assert (answer["input_tokens"], answer["cached_tokens"], answer["output_tokens"]) == (1000, 400, 100)
    assert answer["prompt"] == "system" and answer["prompt_version"] >= 1 and answer["cost_usd"] > 0
    assert answer["latency_ms"] >= 0 and answer["conversation"].startswith("T")
    log = process.log()
    assert "private roadmap" not in log and "secret plan" not in log  # message text is never logged
    assert all(line.startswith("{") for line in log.splitlines() if line.strip()), "every line is JSON"


def test_model_calls_become_genai_spans_without_content_unless_asked(start_app, slack, model, monkeypatch):
    from .fakes.otlp import FakeCollector

    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # the SDK's own batching variable: export quickly
    collector = FakeCollector().start()
    try:
        app = start_app(OTEL_EXPORTER_OTLP_ENDPOINT=collector.url)
        model.enqueue(Scripted(text="Classified answer.", usage=(1000, 400, 100)))
        ask(app, slack, "top secret question", answers=1)
        [span] = collector.wait_for_spans(1)
        assert span["name"] == "chat gpt-4o-mini" and span["service"] == "slack-assistant" and span["kind"] == 3  # CLIENT
        attributes = span["attributes"]
        assert attributes["gen_ai.operation.name"] == "chat" and attributes["gen_ai.request.model"] == "gpt-4o-mini"
        assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (1000, 100)
        assert attributes["gen_ai.usage.cache_read.input_tokens"] == 400
        assert attributes["gen_ai.response.finish_reasons"] == ["stop"]
        assert "top secret" not in str(span) and "Classified" not in str(span)

        opted_in = start_app(OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
                             OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true")
        model.enqueue(Scripted(text="Shared answer.", status=None))
        sender = SlackSender(opted_in.url)
        try:
            sender.send_event(mention("open question", channel="C200"))
        finally:
            sender.close()
        spans = collector.wait_for_spans(2)
        assert "open question" in spans[1]["attributes"]["gen_ai.input.messages"]
        assert "Shared answer." in spans[1]["attributes"]["gen_ai.output.messages"]
    finally:
        collector.stop()
