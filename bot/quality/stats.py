"""The report's figures (pure): per prompt version, variant and model, how answers are rated,
how the online judge scores them, what they cost and how long they take, each with a 95%
confidence interval; and per experiment, which variant wins or that it is too early to say."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

from bot.quality.signals import Arm, Signal

Z95 = 1.96
MIN_PER_VARIANT = 10  # judged (or rated) answers each variant needs before a winner is named


@dataclass(frozen=True)
class Share:
    """k of n, with its Wilson 95% interval."""

    k: int
    n: int

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        if not self.n:
            return None
        p, n = self.k / self.n, self.n
        centre = (p + Z95 ** 2 / (2 * n)) / (1 + Z95 ** 2 / n)
        half = Z95 * math.sqrt(p * (1 - p) / n + Z95 ** 2 / (4 * n * n)) / (1 + Z95 ** 2 / n)
        return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Mean:
    values: tuple[float, ...]

    @property
    def value(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def interval(self) -> tuple[float, float] | None:
        if len(self.values) < 2:
            return None
        half = Z95 * statistics.stdev(self.values) / math.sqrt(len(self.values))
        mean = statistics.fmean(self.values)
        return mean - half, mean + half

    def percentile(self, q: float) -> float | None:
        if not self.values:
            return None
        ordered = sorted(self.values)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class Row:
    arm: Arm
    answers: int = 0
    ratings: Share = Share(0, 0)  # 👍 of all ratings
    scores: Share = Share(0, 0)  # PASS of judged answers
    cost: Mean = Mean(())  # USD per answer (priced answers only)
    latency: Mean = Mean(())  # ms, model request to the last message


@dataclass
class Experiment:
    prompt: str
    version: int
    rows: list[Row] = field(default_factory=list)  # one per variant (models together)
    winner: str | None = None
    signal: str = ""  # what decided: "online score" or "ratings"
    verdict: str = ""


def rows_of(signals: Iterable[Signal], ratings: Iterable[Mapping[str, Any]], *, since: datetime | None = None,
            prompt: str | None = None, by_model: bool = True) -> list[Row]:
    """One row per prompt version, variant (and model): answers, ratings, scores, cost, latency."""
    answers: dict[Arm, list[Signal]] = {}
    scores: dict[Arm, list[float]] = {}
    arm_of_answer: dict[str, Arm] = {}
    for signal in signals:
        if (since is not None and signal.at < since) or (prompt is not None and _prompt(signal.arm) != prompt):
            continue
        arm = signal.arm if by_model else Arm(_prompt(signal.arm), signal.arm.version, signal.arm.variant, "")
        if signal.kind == "answer":
            answers.setdefault(arm, []).append(signal)
            arm_of_answer[signal.answer] = arm
        elif signal.kind == "score" and "score" in signal.values:
            scores.setdefault(arm, []).append(signal.values["score"])
    rated: dict[Arm, list[bool]] = {}
    for entry in ratings:
        arm = arm_of_answer.get(f"{entry.get('channel')}:{entry.get('answer_ts')}")
        if arm is None or entry.get("rating") not in ("up", "down"):
            continue  # rated before the period, or an answer with no signal kept
        rated.setdefault(arm, []).append(entry.get("rating") == "up")
    rows = []
    for arm in sorted({*answers, *scores}, key=lambda a: (a.prompt, -a.version, a.variant, a.model)):
        kept = answers.get(arm, [])
        rows.append(Row(
            arm, len(kept),
            Share(sum(rated.get(arm, [])), len(rated.get(arm, []))),
            Share(sum(1 for s in scores.get(arm, []) if s >= 0.5), len(scores.get(arm, []))),
            Mean(tuple(s.values["cost"] for s in kept if "cost" in s.values)),
            Mean(tuple(s.values["latency_ms"] for s in kept if "latency_ms" in s.values)),
        ))
    return rows


def experiments(rows: Sequence[Row]) -> list[Experiment]:
    """Prompt versions answered with more than one variant, each with its verdict (rows without models)."""
    found: dict[tuple[str, int], Experiment] = {}
    for row in rows:
        found.setdefault((row.arm.prompt, row.arm.version), Experiment(row.arm.prompt, row.arm.version)).rows.append(row)
    decided = []
    for experiment in found.values():
        if len({row.arm.variant for row in experiment.rows}) > 1:
            _decide(experiment)
            decided.append(experiment)
    return decided


def _decide(experiment: Experiment) -> None:
    for signal, share_of in (("online score", lambda r: r.scores), ("ratings", lambda r: r.ratings)):
        shares = {row.arm.variant: share_of(row) for row in experiment.rows}
        if all(share.n >= MIN_PER_VARIANT for share in shares.values()):
            experiment.signal = signal
            best = max(shares, key=lambda name: shares[name].value or 0.0)
            low = shares[best].interval[0]  # type: ignore[index]
            if all(shares[other].interval[1] < low for other in shares if other != best):  # type: ignore[index]
                experiment.winner = best
                experiment.verdict = f"{best} wins on {signal}: {shares[best].value:.0%} (95% CI above every other variant's)"
            else:
                experiment.verdict = f"no clear winner yet on {signal}: the 95% intervals overlap; keep it running"
            return
    fewest = min(min(row.scores.n, row.ratings.n) for row in experiment.rows)
    experiment.verdict = (f"not yet enough data: {MIN_PER_VARIANT} judged or rated answers per variant are needed "
                          f"(the fewest has {fewest})")


def _prompt(arm: Arm) -> str:
    return arm.prompt.removesuffix("+persona")
