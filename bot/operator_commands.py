"""Operator commands that read the bot's Redis: ``feedback export`` and ``usage``."""

from __future__ import annotations

import contextlib
import sys
from typing import Any, AsyncIterator

from bot.settings import Settings


@contextlib.asynccontextmanager
async def operator_store(settings: Settings, without_redis: str) -> AsyncIterator[Any]:
    """The store an operator command reads (it needs the Redis the bot uses); closed afterwards."""
    from redis.exceptions import RedisError

    from bot.memory.store import ConversationStore
    from bot.memory.connection import open_redis
    from bot.runtime import StartupError

    if settings.embedded_store:
        raise StartupError(f"REDIS_URL is not set: {without_redis}.")
    try:
        client = await open_redis(settings.redis_url, cluster=settings.redis_cluster, max_connections=10)
    except (RedisError, OSError) as exc:
        raise StartupError(f"Cannot reach Redis at REDIS_URL ({type(exc).__name__}): start Redis or fix the URL.") from None
    store = ConversationStore(client, key_prefix=settings.redis_key_prefix, ttl_seconds=settings.conversation_ttl_seconds)
    try:
        try:
            await store.ping()
        except (RedisError, OSError) as exc:
            raise StartupError(f"Cannot reach Redis at REDIS_URL ({type(exc).__name__}): start Redis or fix the URL.") from None
        yield store
    finally:
        await store.close()


async def feedback_export(settings: Settings, output: str | None, fmt: str = "jsonl", selection: Any = None) -> None:
    from bot.feedback import Selection, export_eval_cases, export_feedback

    selection = selection or Selection()
    async with operator_store(settings, "feedback lives in the Redis the bot uses; set REDIS_URL to export it") as store:
        export = export_eval_cases if fmt == "eval" else export_feedback
        if fmt in ("openai-chat", "preference"):
            export = dataset_exporter(settings, store, fmt)
        if output is None:
            count = await export(store, sys.stdout, selection)
        else:
            with open(output, "w", encoding="utf-8") as out:
                count = await export(store, out, selection)
    noun = {"eval": "case(s)", "openai-chat": "conversation(s)", "preference": "pair(s)"}.get(fmt, "rating(s)")
    print(f"exported {count} {noun}", file=sys.stderr)


def dataset_exporter(settings: Settings, store: Any, fmt: str) -> Any:
    """The fine-tuning exports: the system prompt rendered again with the variables the answer's
    request used (the operator's prompt and the channel's persona), used only when it is the
    same text (its checksum was kept with the answer): an edited prompt or persona leaves the
    example out rather than train on a request the bot never sent."""
    from bot.feedback import export_datasets
    from bot.prompts import PromptError, load_catalog
    from bot.runtime import StartupError

    try:
        catalog = load_catalog(settings.prompts_dir)
    except PromptError as exc:
        raise StartupError(f"Invalid prompt file {exc}") from None

    async def export(store_: Any, out: Any, selection: Any) -> int:
        from bot.feedback import selected

        personas: dict[tuple[str, str], str | None] = {}
        entries = await selected(store_, selection)
        for entry in entries:
            key = (str(entry.get("team", "")), str(entry.get("channel", "")))
            if key not in personas:
                personas[key] = await store_.get_persona(*key)

        def system_prompt(entry: Any) -> str | None:
            from bot.answer.record import system_sha
            from bot.responder import with_persona

            request = entry.get("request") or {}
            variables = request.get("variables")
            if not isinstance(variables, dict):
                return None
            key = (str(entry.get("team", "")), str(entry.get("channel", "")))
            rendered = with_persona(catalog.system.render({k: str(v) for k, v in variables.items()}), personas.get(key))
            return rendered if system_sha(rendered) == request.get("system_sha") else None

        return await export_datasets(store_, out, fmt=fmt, system_prompt=system_prompt, selection=selection)

    return export


async def report_usage(settings: Settings, since: str | None, until: str | None, by: str, fmt: str) -> None:
    from bot.pricing import PricesError, load_prices
    from bot.runtime import StartupError
    from bot.usage.command import usage_command
    from bot.usage.ledger import Ledger

    try:
        prices = load_prices(settings.prices_file)
    except PricesError as exc:
        raise StartupError(f"Invalid PRICES_FILE: {exc}.") from None
    async with operator_store(settings, "usage lives in the Redis the bot uses; set REDIS_URL to report it") as store:
        try:
            await usage_command(store.redis, Ledger(store.redis, store.keys, prices), since=since, until=until, by=by, fmt=fmt)
        except ValueError as exc:
            raise StartupError(str(exc)) from None
