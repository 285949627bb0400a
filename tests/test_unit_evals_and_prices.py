"""Pure parts of the eval runner and the price table."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.evals.cases import Check
from bot.evals.checks import check_text, parse_judgement
from bot.pricing import PricesError, load_prices

ROOT = Path(__file__).resolve().parent.parent


def verdict(kind: str, value, answer: str, *, tokens: int = 5, latency: float = 100.0):
    return check_text(Check.model_validate({kind: value}), answer, output_tokens=tokens, latency_ms=latency)


def test_each_check_passes_and_fails_as_named():
    assert verdict("contains", "Paris", "It is Paris.").passed and not verdict("contains", "paris", "It is Paris.").passed
    assert verdict("icontains", "paris", "It is PARIS.").passed
    assert not verdict("not_contains", "Good", "Good morning").passed
    assert verdict("equals", "42", " 42\n").passed and not verdict("equals", "42", "42.").passed
    assert verdict("not_equals", "old answer", "new answer").passed and not verdict("not_equals", "same", "same ").passed
    assert verdict("regex", r"(?i)\bada\b", "Your name is Ada.").passed and not verdict("regex", r"\d+", "none").passed
    assert verdict("max_tokens", 10, "x", tokens=10).passed and not verdict("max_tokens", 10, "x", tokens=11).passed
    failed = verdict("max_latency_ms", 500, "x", latency=812.4)
    assert not failed.passed and failed.reason == "took 812 ms, more than 500"


def test_json_schema_reads_plain_or_fenced_json_and_says_why_not():
    schema = {"type": "object", "required": ["capital"], "properties": {"capital": {"type": "string"}}}
    assert verdict("json_schema", schema, '{"capital": "Paris"}').passed
    assert verdict("json_schema", schema, '```json\n{"capital": "Paris"}\n```').passed
    assert verdict("json_schema", schema, "Paris").reason == "is not JSON"
    assert verdict("json_schema", schema, '{"city": "Paris"}').reason.startswith("does not match the schema: 'capital'")


def test_the_judges_answer_is_read_leniently_but_never_guessed():
    assert parse_judgement("PASS\nIt names Ada.") == parse_judgement("**PASS** — It names Ada.")
    assert parse_judgement("pass: It names Ada.").reason == "It names Ada."
    failed = parse_judgement("FAIL\nIt adds a greeting.")
    assert not failed.passed and failed.reason == "It adds a greeting."
    unclear = parse_judgement("Probably fine")
    assert not unclear.passed and unclear.reason.startswith("the judge did not answer PASS or FAIL")
    assert not parse_judgement("").passed


def test_malformed_checks_are_refused_when_read():
    for bad in ({"regex": "("}, {"max_tokens": 0}, {"max_tokens": True}, {"json_schema": "object"}, {"contains": ""},
                {"contains": "a", "regex": "b"}, {"sounds_like": "x"}):
        with pytest.raises(ValueError):
            Check.model_validate(bad)


def test_prices_match_snapshots_and_refuse_a_bad_table(tmp_path):
    prices = load_prices(ROOT / "prices.yaml")
    assert prices.price_of("gpt-4o-mini-2024-07-18") == prices.price_of("gpt-4o-mini")
    assert prices.price_of("openai/gpt-4.1-mini") == prices.price_of("gpt-4.1-mini")  # a LiteLLM-style name
    assert prices.price_of("gpt-4o") != prices.price_of("gpt-4o-mini")  # the longest name wins
    assert prices.cost("llama3", input_tokens=10) is None
    assert prices.cost("gpt-4o-mini", input_tokens=1_000_000, cached_tokens=1_000_000) == pytest.approx(0.075)
    bad = tmp_path / "prices.yaml"
    bad.write_text("gpt-x: {input: -1, output: 2}\n")
    with pytest.raises(PricesError) as raised:
        load_prices(bad)
    assert str(raised.value).startswith(f"{bad}: gpt-x.input:")
