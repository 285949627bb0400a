"""What an evaluation run reports: a table per case, a summary per variant, side by side
when there are several, and the JSON and JUnit files CI tools read.  Pure."""

from __future__ import annotations

import json
import statistics
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
        mark = "PASS" if result.met else "FAIL"
        name = case_label(result) + (f" [{result.variant.label(several_prompt_dirs(results))}]" if len(variants) > 1 else "")
        lines.append(f"{mark}  {name}  {result.passed_samples}/{len(result.samples)}  "
                     f"p50 {result.p50_latency_ms:.0f} ms  {result.tokens:,} tokens  {money(result.cost)}")
        if not result.met:
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
        latencies = [s.latency_ms for r in mine for s in r.samples]
        costs = [r.cost for r in mine]
        cost = None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)
        models = sorted({r.model for r in mine})
        lines.append(
            f"{variant.label(several)} ({', '.join(models)}): {met}/{len(mine)} cases pass ({met / len(mine):.0%}), "
            f"p50 {statistics.median(latencies):.0f} ms, {sum(r.tokens for r in mine):,} tokens, {money(cost)}")
    return lines


def json_report(results: Sequence[CaseResult]) -> dict[str, Any]:
    several = several_prompt_dirs(results)
    return {"cases": [{
        "file": str(r.file), "case": r.case, "variant": r.variant.label(several), "model": r.model,
        "prompts": r.variant.prompts_label, "passed": r.passed_samples, "samples": len(r.samples),
        "pass_rate": r.pass_rate, "met": r.met, "p50_latency_ms": round(r.p50_latency_ms, 1), "tokens": r.tokens,
        "cost_usd": r.cost,
        "runs": [{"passed": s.passed, "failures": s.failures, "notes": s.notes, "latency_ms": round(s.latency_ms, 1),
                  "input_tokens": s.input_tokens, "cached_tokens": s.cached_tokens, "output_tokens": s.output_tokens,
                  "cost_usd": s.cost, "answer": s.answer} for s in r.samples],
    } for r in results], "passed": all(r.met for r in results)}


def junit_report(results: Sequence[CaseResult]) -> bytes:
    several = several_prompt_dirs(results)
    suites = ElementTree.Element("testsuites", name="bot eval")
    for variant in variants_of(results):
        mine = [r for r in results if r.variant is variant]
        suite = ElementTree.SubElement(suites, "testsuite", name=variant.label(several), tests=str(len(mine)),
                                       failures=str(sum(not r.met for r in mine)))
        for result in mine:
            case = ElementTree.SubElement(suite, "testcase", classname=result.file.stem, name=result.case,
                                          time=f"{sum(s.latency_ms for s in result.samples) / 1000:.3f}")
            if not result.met:
                failures = ["; ".join(s.failures) + f" — answer: {first_line(s.answer)!r}"
                            for s in result.samples if not s.passed]
                failure = ElementTree.SubElement(
                    case, "failure", message=f"{result.passed_samples}/{len(result.samples)} samples passed, "
                                              f"{result.pass_rate:.0%} needed")
                failure.text = "\n".join(failures)
    return ElementTree.tostring(suites, encoding="utf-8", xml_declaration=True)


def write_json(path: Path, results: Sequence[CaseResult]) -> None:
    path.write_text(json.dumps(json_report(results), ensure_ascii=False, indent=2), encoding="utf-8")


def write_junit(path: Path, results: Sequence[CaseResult]) -> None:
    path.write_bytes(junit_report(results))
