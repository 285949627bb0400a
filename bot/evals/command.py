"""``python -m bot eval``: load the case files, run them for each model and prompts folder,
print the report and write the JSON and JUnit files.  Exit code 0 when every case meets its
pass rate, 1 when a case's answers fell short, 3 when nothing fell short but the model or the
judge could not answer some (an outage, not a regression), 2 for a malformed case file or setting."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence, TextIO

from bot.evals.cases import EvalFileError, find_eval_files, load_eval_file
from bot.evals.knowledge import EvalKnowledge
from bot.evals.report import text_report, write_json, write_junit
from bot.evals.runner import EvalRunner, Variant
from bot.pricing import PricesError, load_prices
from bot.prompts import PromptError, load_catalog
from bot.settings import Settings

BAR_WIDTH = 30


class ProgressBar:
    """A one-line progress bar on a terminal (nothing when the output is a file or a pipe)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.live = out.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.live or not total:
            return
        filled = BAR_WIDTH * done // total
        self.out.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} samples")
        if done == total:
            self.out.write("\n")
        self.out.flush()


async def run_evals(
    settings: Settings, *, paths: Sequence[str], models: Sequence[str], prompts_dir: str | None, repeat: int | None,
    concurrency: int, json_path: str | None, junit_path: str | None, name_filter: str | None,
    out: TextIO | None = None, err: TextIO | None = None, routes: bool = False,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    from bot.tokens import TokenCounter
    from bot.llm.wiring import build_model_client

    try:
        files = [load_eval_file(path) for path in find_eval_files([Path(p) for p in paths] or [settings.evals_dir])]
        catalogs = [(load_catalog(settings.prompts_dir), settings.prompts_dir.name or str(settings.prompts_dir))]
        if prompts_dir:
            other = Path(prompts_dir).expanduser()
            catalogs.append((load_catalog(other), other.name or str(other)))
            if catalogs[0][1] == catalogs[1][1]:
                catalogs = [(catalogs[0][0], str(settings.prompts_dir)), (catalogs[1][0], str(other))]
        prices = load_prices(settings.prices_file)
    except (EvalFileError, PricesError) as exc:
        print(f"error: {exc}", file=err)
        return 2
    except PromptError as exc:
        print(f"error: invalid prompt file {exc}", file=err)
        return 2
    model = build_model_client(settings, breaker=False)
    if routes and model.routes is None:
        await model.close()
        print("error: --routes compares the models of MODEL_ROUTES: set MODEL_ROUTES to a routes file", file=err)
        return 2
    chosen = route_models(model.routes.routes, settings.openai_model) if routes else [(m, "") for m in models or [None]]
    variants = [Variant(name, catalog, label, settings.openai_model, route=route)
                for catalog, label in catalogs for name, route in chosen]
    counter = TokenCounter.for_model(settings.openai_model, settings.tiktoken_cache_dir)
    knowledge = EvalKnowledge(client=model.client, counter=counter, model=settings.embedding_model,
                              dimensions=settings.embedding_dimensions, top_k=settings.knowledge_top_k,
                              max_tokens=settings.knowledge_max_tokens,
                              min_similarity=settings.knowledge_min_similarity) if any(f.spec.knowledge for f in files) else None
    runner = EvalRunner(model=model, counter=counter, prices=prices, bot_name=settings.bot_name,
                        max_context_tokens=settings.max_context_tokens, trim_target_ratio=settings.trim_target_ratio,
                        judge_model=settings.judge_model, concurrency=concurrency, knowledge=knowledge)
    started = datetime.now(timezone.utc)
    try:
        results = await runner.run(files, variants, repeat=repeat, name_filter=name_filter, progress=ProgressBar(err))
    except EvalFileError as exc:
        print(f"error: {exc}", file=err)
        return 2
    finally:
        if knowledge is not None:
            await knowledge.close()
        await model.close()
    if not results:
        print(f"error: no case matches -k {name_filter!r}", file=err)
        return 2
    out.write(text_report(results) + "\n")
    if json_path:
        write_json(Path(json_path), results)
    if junit_path:
        write_junit(Path(junit_path), results, started)
    statuses = {result.status for result in results}
    return 1 if "fail" in statuses else 3 if "error" in statuses else 0


def route_models(routes: Sequence[Any], default: str) -> list[tuple[str | None, str]]:
    """Each model the routes send requests to, with the routes that do (the default model last)."""
    served: dict[str, list[str]] = {}
    for route in routes:
        served.setdefault(route.model, []).append(route.name)
    served.setdefault(default, []).append("default")
    return [(name, ", ".join(names)) for name, names in served.items()]
