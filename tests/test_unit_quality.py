"""The quality report's figures (pure): intervals, rows per arm, and the experiment's verdict;
and how a prompt experiment assigns variants."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.prompts import PromptError, parse_prompt
from bot.quality.render import page, table
from bot.quality.signals import Arm, Signal
from bot.quality.stats import MIN_PER_VARIANT, Mean, Share, experiments, rows_of

NOW = datetime(2026, 12, 5, 12, tzinfo=timezone.utc)
EXPERIMENT = """---
name: system
version: 7
variants:
  - name: control
    weight: 3
  - name: concise
    weight: 1
    instructions: Answer in at most three sentences.
    model: gpt-4.1-mini
---
You are ${bot_name}.
"""


def test_wilson_interval_and_mean_interval():
    assert Share(0, 0).interval is None and Share(0, 0).value is None
    low, high = Share(8, 10).interval
    assert (round(low, 3), round(high, 3)) == (0.49, 0.943)  # the textbook Wilson interval for 8/10
    assert Share(10, 10).interval[1] == 1.0
    mean = Mean((1.0, 2.0, 3.0))
    assert mean.value == 2.0 and mean.percentile(0.5) == 2.0 and mean.percentile(0.95) == 3.0
    assert round(mean.interval[0], 3) == round(2.0 - 1.96 / 3 ** 0.5, 3)


def test_variants_are_stable_per_key_and_follow_their_weights():
    prompt = parse_prompt(EXPERIMENT, Path("system.md"), frozenset({"bot_name"}))
    assert prompt.variant_for("T1:C1:1.0") == prompt.variant_for("T1:C1:1.0")
    drawn = Counter(prompt.variant_for(f"T1:C1:{n}.0").name for n in range(4000))
    assert 0.70 < drawn["control"] / 4000 < 0.80
    assert prompt.render({"bot_name": "Bot"}, "concise") == "You are Bot.\n\nAnswer in at most three sentences."
    assert prompt.render({"bot_name": "Bot"}, "control") == prompt.render({"bot_name": "Bot"}) == "You are Bot."
    with pytest.raises(PromptError, match="two variants share a name"):
        parse_prompt(EXPERIMENT.replace("name: concise", "name: control"), Path("system.md"), frozenset({"bot_name"}))


def signals(variant: str, answers: int, passes: int, *, cost: float = 0.001, model: str = "gpt-4o-mini") -> list[Signal]:
    arm = Arm("system", 7, variant, model)
    found = []
    for n in range(answers):
        key = f"C1:{variant}{model}{n}"
        found.append(Signal("answer", NOW, arm, key, "T1", {"cost": cost, "latency_ms": 1000 + n}))
        found.append(Signal("score", NOW, arm, key, "T1", {"score": 1.0 if n < passes else 0.0}))
    return found


def test_rows_per_arm_with_ratings_joined_by_answer():
    found = signals("control", 4, 3) + signals("concise", 2, 1, cost=0.0005)
    ratings = [{"channel": "C1", "answer_ts": "control" + "gpt-4o-mini0", "rating": "up"},
               {"channel": "C1", "answer_ts": "control" + "gpt-4o-mini1", "rating": "down"},
               {"channel": "C9", "answer_ts": "elsewhere", "rating": "up"}]
    rows = {row.arm.variant: row for row in rows_of(found, ratings)}
    assert rows["control"].answers == 4 and (rows["control"].scores.k, rows["control"].scores.n) == (3, 4)
    assert (rows["control"].ratings.k, rows["control"].ratings.n) == (1, 2)
    assert rows["concise"].cost.value == 0.0005 and rows["concise"].latency.percentile(0.95) == 1001
    assert rows_of(found, [], since=NOW + timedelta(seconds=1)) == []


def test_a_winner_only_when_its_interval_clears_the_others():
    clear = experiments(rows_of(signals("control", 40, 20) + signals("concise", 40, 38), [], by_model=False))
    assert clear[0].winner == "concise" and clear[0].signal == "online score"
    close = experiments(rows_of(signals("control", 40, 30) + signals("concise", 40, 33), [], by_model=False))
    assert close[0].winner is None and "no clear winner yet" in close[0].verdict
    early = experiments(rows_of(signals("control", MIN_PER_VARIANT - 1, 5) + signals("concise", 30, 30), [],
                                by_model=False))
    assert early[0].winner is None and early[0].verdict.startswith("not yet enough data")
    models = rows_of(signals("control", 12, 6) + signals("control", 12, 6, model="gpt-4.1"), [], by_model=False)
    assert len(models) == 1 and models[0].answers == 24, "an experiment's variants are compared over every model"


def test_table_and_page_show_every_arm_and_the_verdict():
    rows = rows_of(signals("control", 40, 20) + signals("concise", 40, 38), [])
    found = experiments(rows_of(signals("control", 40, 20) + signals("concise", 40, 38), [], by_model=False))
    text = table(rows, found)
    assert "concise" in text and "95% [" in text and "concise wins on online score" in text
    html = page(rows, found, period="since 2026-11-28")
    assert html.count("<svg") == 3 and "No data yet." in html  # no ratings: that chart says so
    assert "concise wins" in html and "<script" not in html
