"""What an evaluation run reports: a table per case, a summary per variant, side by side
when there are several, and the JSON and JUnit files CI tools read.  Pure."""

from __future__ import annotations

import json
import statistics
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence
from xml.etree import ElementTree

from bot.evals.runner import CaseResult, Variant

FIRST_LINE_CHARS = 70


def first_line(text: str) -> str:
    line = next((part.strip() for part in text.strip().splitlines() if part.strip()), "")
    return line if len(line) <= FIRST_LINE_CHARS else line[: FIRST_LINE_CHARS - 1] + "…"


def money(cost: float | None) -> str:
    return "unpriced" if cost is None else f"${cost:.5f}"


def case_label(result: CaseResult) -> str:
    return f"{result.file.name} › {result.case}"


def variants_of(results: Sequence[CaseResult]) -> list[Variant]:
    seen: dict[int, Variant] = {}
    for result in results:
        seen.setdefault(id(result.variant), result.variant)
    return list(seen.values())


def several_prompt_dirs(results: Sequence[CaseResult]) -> bool:
    return len({variant.prompts_label for variant in variants_of(results)}) > 1


def text_report(results: Sequence[CaseResult]) -> str:
    variants = variants_of(results)
    lines: list[str] = []
    if len(variants) > 1:
        lines += side_by_side(results, variants)
        lines.append("")
    for result in results:
        mark = result.status.upper()
        name = case_label(result) + (f" [{result.variant.label(several_prompt_dirs(results))}]" if len(variants) > 1 else "")
        lines.append(f"{mark}  {name}  {result.passed_samples}/{len(result.samples)}  "
                     f"p50 {result.p50_latency_ms:.0f} ms  {result.tokens:,} tokens  {money(result.cost)}")
        if result.status != "pass":
            for sample in result.samples:
                if not sample.passed:
                    lines.append(f"      ✗ {'; '.join(sample.failures)}  — answer: {first_line(sample.answer)!r}")
                    for note in sample.notes:
                        lines.append(f"        {note}")
    lines.append("")
    lines += summary(results, variants)
    return "\n".join(lines).rstrip()


def side_by_side(results: Sequence[CaseResult], variants: Sequence[Variant]) -> list[str]:
    labels = [variant.label(several_prompt_dirs(results)) for variant in variants]
    rows: dict[tuple[str, str], dict[int, CaseResult]] = {}
    for result in results:
        rows.setdefault((str(result.file), result.case), {})[id(result.variant)] = result
    width = max([len(case_label(r)) for r in results] + [4])
    lines = ["case".ljust(width) + "  " + "  ".join(label.ljust(max(len(label), 8)) for label in labels) + "  changed"]
    for by_variant in rows.values():
        cells, outcomes = [], set()
        for variant, label in zip(variants, labels):
            result = by_variant.get(id(variant))
            if result is None:
                cells.append("-".ljust(max(len(label), 8)))
                continue
            outcomes.add(result.met)
            cell = f"{result.passed_samples}/{len(result.samples)} {'✓' if result.met else '✗'}"
            cells.append(cell.ljust(max(len(label), 8)))
        any_result = next(iter(by_variant.values()))
        row = case_label(any_result).ljust(width) + "  " + "  ".join(cells) + ("  ≠" if len(outcomes) > 1 else "")
        lines.append(row.rstrip())
    return lines


def summary(results: Sequence[CaseResult], variants: Sequence[Variant]) -> list[str]:
    lines = []
    several = several_prompt_dirs(results)
    for variant in variants:
        mine = [r for r in results if r.variant is variant]
        if not mine:
            continue
        met = sum(r.met for r in mine)
        errors = sum(r.status == "error" for r in mine)
        latencies = [s.latency_ms for r in mine for s in r.samples]
        cost, judge_cost = total([r.cost for r in mine]), total([r.judge_cost for r in mine])
        judge_tokens = sum(r.judge_tokens for r in mine)
        models = sorted({r.model for r in mine})
        lines.append(
            f"{variant.label(several)}{'' if variant.route else ' (' + ', '.join(models) + ')'}: {met}/{len(mine)} cases pass "
            f"({met / len(mine):.0%})"
            + (f", {errors} could not be judged (model or judge errors)" if errors else "")
            + f", p50 {statistics.median(latencies):.0f} ms, {sum(r.tokens for r in mine):,} tokens, {money(cost)}"
            + (f" (judge: {judge_tokens:,} tokens, {money(judge_cost)})" if judge_tokens else ""))
    return lines


def total(costs: Sequence[float | None]) -> float | None:
    return None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)


def json_report(results: Sequence[CaseResult]) -> dict[str, Any]:
    several = several_prompt_dirs(results)
    return {"cases": [{
        "file": str(r.file), "case": r.case, "variant": r.variant.label(several), "model": r.model,
        "prompts": r.variant.prompts_label, "passed": r.passed_samples, "samples": len(r.samples),
        "pass_rate": r.pass_rate, "met": r.met, "status": r.status, "errors": r.errors,
        "p50_latency_ms": round(r.p50_latency_ms, 1), "tokens": r.tokens, "cost_usd": r.cost,
        "judge_tokens": r.judge_tokens, "judge_cost_usd": r.judge_cost,
        "runs": [{"passed": s.passed, "error": s.error, "failures": s.failures, "notes": s.notes,
                  "latency_ms": round(s.latency_ms, 1), "input_tokens": s.input_tokens, "cached_tokens": s.cached_tokens,
                  "output_tokens": s.output_tokens, "cost_usd": s.cost, "judge_tokens": s.judge_tokens,
                  "judge_cost_usd": s.judge_cost, "answer": s.answer} for s in r.samples],
    } for r in results], "passed": all(r.met for r in results)}


def junit_report(results: Sequence[CaseResult], started: datetime | None = None) -> bytes:
    """JUnit XML: a suite per variant (with its tests, failures, errors, time and timestamp), a
    test per case, named with its variant when there are several so every test id is unique."""
    several = several_prompt_dirs(results)
    variants = variants_of(results)
    stamp = (started or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    suites = ElementTree.Element("testsuites", name="bot eval", tests=str(len(results)),
                                 failures=str(sum(r.status == "fail" for r in results)),
                                 errors=str(sum(r.status == "error" for r in results)), time=_seconds(results))
    for variant in variants:
        mine = [r for r in results if r.variant is variant]
        label = variant.label(several)
        suite = ElementTree.SubElement(suites, "testsuite", name=label, tests=str(len(mine)),
                                       failures=str(sum(r.status == "fail" for r in mine)),
                                       errors=str(sum(r.status == "error" for r in mine)), skipped="0",
                                       time=_seconds(mine), timestamp=stamp)
        for result in mine:
            name = f"{result.case} [{label}]" if len(variants) > 1 else result.case
            case = ElementTree.SubElement(suite, "testcase", classname=result.file.stem, name=name,
                                          time=_seconds([result]))
            if result.status == "pass":
                continue
            lines = ["; ".join(s.failures) + f" — answer: {first_line(s.answer)!r}" for s in result.samples if not s.passed]
            element = ElementTree.SubElement(
                case, "failure" if result.status == "fail" else "error",
                message=f"{result.passed_samples}/{len(result.samples)} samples passed, {result.pass_rate:.0%} needed"
                + (f", {result.errors} could not be judged" if result.errors else ""))
            element.text = "\n".join(lines)
    return ElementTree.tostring(suites, encoding="utf-8", xml_declaration=True)


def _seconds(results: Sequence[CaseResult]) -> str:
    return f"{sum(s.latency_ms for r in results for s in r.samples) / 1000:.3f}"


def write_json(path: Path, results: Sequence[CaseResult]) -> None:
    path.write_text(json.dumps(json_report(results), ensure_ascii=False, indent=2), encoding="utf-8")


def write_junit(path: Path, results: Sequence[CaseResult], started: datetime | None = None) -> None:
    path.write_bytes(junit_report(results, started))
