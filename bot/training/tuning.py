"""``python -m bot finetune``: create a fine-tuning job from a checked dataset, follow it, and
promote its model only when it passes the eval cases at least as well as the model in use."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any, Sequence, TextIO

import openai

from bot.errors import StartupError
from bot.training.dataset import problems_of


async def create(client: Any, dataset: Path, base_model: str, *, suffix: str | None = None,
                 out: TextIO = sys.stdout) -> str:
    """Check ``dataset``, upload it and start the job; its id.  Raises StartupError (exit 2)."""
    text = dataset.read_text(encoding="utf-8")
    count, problems = problems_of(text.splitlines())
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise StartupError(f"the dataset {dataset.name} cannot be used: {shown}")
    try:
        uploaded = await client.files.create(file=(dataset.name, io.BytesIO(text.encode())), purpose="fine-tune")
        job = await client.fine_tuning.jobs.create(model=base_model, training_file=uploaded.id,
                                                   **({"suffix": suffix} if suffix else {}))
    except openai.APIStatusError as exc:
        raise StartupError(f"the fine-tuning API refused: HTTP {exc.status_code} ({_message(exc)})") from None
    except openai.APIConnectionError:
        raise StartupError("the fine-tuning API does not answer: check OPENAI_BASE_URL") from None
    out.write(f"{count} examples uploaded as {uploaded.id}; job {job.id} ({job.status}) trains {base_model}\n")
    out.write(f"follow it: python -m bot finetune status {job.id}\n")
    return str(job.id)


async def status(client: Any, job_id: str, out: TextIO = sys.stdout) -> Any:
    try:
        job = await client.fine_tuning.jobs.retrieve(job_id)
        events = await client.fine_tuning.jobs.list_events(job_id, limit=5)
    except openai.NotFoundError:
        raise StartupError(f"no fine-tuning job {job_id}") from None
    except openai.APIConnectionError:
        raise StartupError("the fine-tuning API does not answer: check OPENAI_BASE_URL") from None
    out.write(f"job {job.id}: {job.status}; base {job.model}")
    out.write(f"; model {job.fine_tuned_model}" if job.fine_tuned_model else "")
    out.write(f"; {job.trained_tokens:,} tokens trained" if job.trained_tokens else "")
    out.write(f"; error: {job.error.message}" if job.error and job.error.message else "")
    out.write("\n")
    for event in reversed(list(events.data)):
        out.write(f"  {event.message}\n")
    return job


def pass_rate(results: Sequence[Any], model: str) -> float:
    mine = [r for r in results if r.variant.model == model]
    return sum(r.met for r in mine) / len(mine) if mine else 0.0


def _message(exc: Any) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    return str((body.get("error") or body).get("message") or "no reason given")[:200] if body else "no reason given"
