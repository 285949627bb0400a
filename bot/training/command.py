"""The ``python -m bot finetune`` commands: create, status and promote (with the eval gate)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from bot.errors import StartupError
from bot.training.tuning import create, pass_rate, status


def _client(settings: Any) -> Any:
    from bot.llm.wiring import client_for

    return client_for(settings, settings.openai_base_url, settings.model_api_key())


async def finetune_create(settings: Any, source: str, base_model: str, suffix: str | None) -> int:
    """``--from feedback`` (the 👍-rated exchanges, as the bot sent them) or a JSONL file."""
    from bot.operations.feedback import Selection
    from bot.operations.operator_commands import dataset_exporter, operator_store

    if source == "feedback":  # written straight into a private temporary file (mode 0600), deleted after the upload
        async with operator_store(settings, "the ratings live in the Redis the bot uses; set REDIS_URL") as store:
            handle = tempfile.NamedTemporaryFile("w", suffix=".jsonl", prefix="feedback-", delete=False, encoding="utf-8")
            with handle:
                await dataset_exporter(settings, store, "openai-chat")(store, handle, Selection())
        path = Path(handle.name)
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise StartupError(f"--from {source}: no such file (give a JSONL dataset, or 'feedback')")
    client = _client(settings)
    try:
        job = await create(client, path, base_model, suffix=suffix)
    finally:
        await client.close()
        if source == "feedback":
            path.unlink(missing_ok=True)  # people's conversations: not left in a temporary folder
    await _audit(settings, "finetune.create", job=job, base=base_model, source="feedback" if source == "feedback" else "file")
    return 0


async def finetune_status(settings: Any, job_id: str) -> int:
    client = _client(settings)
    try:
        await status(client, job_id)
    finally:
        await client.close()
    return 0


async def finetune_promote(settings: Any, job_id: str, cases: str, channel: str | None) -> int:
    """Run the cases on the tuned model beside the one in use; promote it only when it passes at
    least as many (exit 0), else print the comparison and exit 1."""
    from bot.evals.report import text_report
    from bot.operations.operator_commands import operator_store
    from bot.training.promoted import PromotedModels

    client = _client(settings)
    try:
        job = await status(client, job_id)
    finally:
        await client.close()
    if job.status != "succeeded" or not job.fine_tuned_model:
        raise StartupError(f"job {job_id} is {job.status}: only a finished job's model can be promoted")
    async with operator_store(settings, "promoted models live in the Redis the bot uses; set REDIS_URL") as store:
        promoted = PromotedModels(store.redis, store.keys)
        current = (await promoted.for_channel(channel) if channel else None) or await promoted.default() \
            or settings.openai_model
        results = await _evaluate(settings, cases, [current, job.fine_tuned_model])
        mine, theirs = pass_rate(results, job.fine_tuned_model), pass_rate(results, current)
        if mine < theirs:
            print(text_report(results))
            print(f"not promoted: {job.fine_tuned_model} passes {mine:.0%} of the cases, {current} {theirs:.0%}")
            return 1
        await promoted.promote(job.fine_tuned_model, channel)
    where = f"channel {channel}" if channel else "every channel without a model of its own"
    print(f"promoted {job.fine_tuned_model} for {where}: it passes {mine:.0%} of the cases, {current} {theirs:.0%} "
          "(every process uses it within 10 seconds)")
    await _audit(settings, "finetune.promote", job=job_id, model=job.fine_tuned_model, replaced=current,
                 channel=channel or "")
    return 0


async def _evaluate(settings: Any, cases: str, models: list[str]) -> list[Any]:
    from bot.evals.cases import EvalFileError, find_eval_files, load_eval_file
    from bot.evals.runner import EvalRunner, Variant
    from bot.llm.wiring import build_model_client
    from bot.pricing import PricesError, load_prices
    from bot.prompts import PromptError, load_catalog
    from bot.tokens import TokenCounter

    try:
        files = [load_eval_file(path) for path in find_eval_files([Path(cases)])]
        catalog, prices = load_catalog(settings.prompts_dir), load_prices(settings.prices_file)
    except (EvalFileError, PricesError, PromptError) as exc:
        raise StartupError(f"cannot run the cases: {exc}") from None
    model = build_model_client(settings, breaker=False)
    runner = EvalRunner(model=model, counter=TokenCounter.for_model(settings.openai_model, settings.tiktoken_cache_dir),
                        prices=prices, bot_name=settings.bot_name, max_context_tokens=settings.max_context_tokens,
                        trim_target_ratio=settings.trim_target_ratio, judge_model=settings.judge_model)
    try:
        return await runner.run(files, [Variant(name, catalog, str(settings.prompts_dir)) for name in models])
    finally:
        await model.close()


async def _audit(settings: Any, action: str, **details: Any) -> None:
    from bot.operations.operator_commands import audit_of, operator_store

    if settings.embedded_store:
        return
    async with operator_store(settings, "") as store:
        await audit_of(settings, store).record(action, **details)
    print("(audited)", file=sys.stderr)


def add_finetune_parser(commands: Any) -> None:
    tune = commands.add_parser("finetune", help="fine-tune a model on the team's rated answers, gated by the evals")
    actions = tune.add_subparsers(dest="finetune_action", required=True)
    make = actions.add_parser("create", help="check and upload the dataset, start the job, print its id")
    make.add_argument("--from", dest="source", required=True, help="'feedback' (👍-rated answers) or a JSONL file")
    make.add_argument("--model", dest="base_model", required=True, help="the base model to fine-tune")
    make.add_argument("--suffix", help="a name for the tuned model")
    follow = actions.add_parser("status", help="a job's status and latest events")
    follow.add_argument("job_id")
    promote = actions.add_parser("promote", help="run the evals on the tuned model; promote it if it does as well")
    promote.add_argument("job_id")
    promote.add_argument("--cases", default="evals", help="eval case files or folders (default: evals)")
    promote.add_argument("--channel", help="promote it for this channel only (C…)")


async def finetune_command(settings: Any, args: Any) -> int:
    if args.finetune_action == "create":
        return await finetune_create(settings, args.source, args.base_model, args.suffix)
    if args.finetune_action == "status":
        return await finetune_status(settings, args.job_id)
    return await finetune_promote(settings, args.job_id, args.cases, args.channel)
