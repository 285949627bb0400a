"""Operator commands that read the bot's Redis: ``feedback export``, ``usage`` and ``audit``."""

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
    from bot.operations.feedback import Selection, export_eval_cases, export_feedback

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
        await audit_of(settings, store).record("export.feedback", format=fmt, count=count, output=output or "stdout",
                                               team=getattr(selection, "team", None) or "",
                                               private=getattr(selection, "include_private", False))
    noun = {"eval": "case(s)", "openai-chat": "conversation(s)", "preference": "pair(s)"}.get(fmt, "rating(s)")
    print(f"exported {count} {noun}", file=sys.stderr)


def audit_of(settings: Settings, store: Any) -> Any:
    from bot.operations.audit import AuditLog

    return AuditLog(store.redis, store.keys, retention_days=settings.audit_retention_days)


async def audit_report(settings: Settings, since: str | None, user: str | None, as_json: bool) -> None:
    """``python -m bot audit``: the audit log's entries, oldest first, as lines or JSON lines."""
    import json

    from bot.runtime import StartupError

    start = parse_since(since) if since else None
    if since and start is None:
        raise StartupError(f"--since {since!r}: give a duration (30m, 24h, 7d) or a UTC date or time (2026-12-01).")
    async with operator_store(settings, "the audit log lives in the Redis the bot uses; set REDIS_URL to read it") as store:
        entries = await audit_of(settings, store).read(since=start, user=user)
    for entry in entries:
        print(json.dumps(entry.as_json(), ensure_ascii=False) if as_json else entry.line())
    if not as_json:
        print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}", file=sys.stderr)


def parse_since(text: str) -> Any:
    """``7d``, ``24h``, ``30m`` ago, or an ISO date/time (UTC); None when it is neither."""
    import re
    from datetime import datetime, timedelta, timezone

    found = re.fullmatch(r"(\d+)([mhd])", text.strip())
    if found:
        amount, unit = int(found.group(1)), found.group(2)
        unit_name = {"m": "minutes", "h": "hours", "d": "days"}[unit]
        return datetime.now(timezone.utc) - timedelta(**{unit_name: amount})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def dataset_exporter(settings: Settings, store: Any, fmt: str) -> Any:
    """The fine-tuning exports: the system prompt rendered again with the variables the answer's
    request used (the operator's prompt and the channel's persona), used only when it is the
    same text (its checksum was kept with the answer): an edited prompt or persona leaves the
    example out rather than train on a request the bot never sent."""
    from bot.operations.feedback import export_datasets
    from bot.prompts import PromptError, load_catalog
    from bot.runtime import StartupError

    try:
        catalog = load_catalog(settings.prompts_dir)
    except PromptError as exc:
        raise StartupError(f"Invalid prompt file {exc}") from None

    async def export(store_: Any, out: Any, selection: Any) -> int:
        from bot.operations.feedback import selected

        personas: dict[tuple[str, str], str | None] = {}
        entries = await selected(store_, selection)
        for entry in entries:
            key = (str(entry.get("team", "")), str(entry.get("channel", "")))
            if key not in personas:
                personas[key] = await store_.get_persona(*key)

        def system_prompt(entry: Any) -> str | None:
            from bot.answer.record import system_sha
            from bot.answer.remember import with_summary
            from bot.responder import with_persona

            request = entry.get("request") or {}
            variables = request.get("variables")
            if not isinstance(variables, dict):
                return None
            key = (str(entry.get("team", "")), str(entry.get("channel", "")))
            rendered = with_summary(with_persona(catalog.system.render(
                {k: str(v) for k, v in variables.items()}, str(request.get("variant") or "")), personas.get(key)),
                str(request.get("summary") or ""))
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


async def people_command(settings: Settings, action: str, user: str, output: str | None, yes: bool) -> int:
    """``export-user`` and ``forget-user`` (bot/operations/people.py); both audited.  Forgetting needs --yes."""
    import json

    from bot.operations.people import PeopleData

    if not user.startswith(("U", "W")):
        print(f"error: {user!r} is not a Slack user id (U… or W…)", file=sys.stderr)
        return 2
    async with operator_store(settings, "people's data lives in the Redis the bot uses; set REDIS_URL") as store:
        people, audit = PeopleData(store), audit_of(settings, store)
        data = await people.export(user)
        counts = {"turns": len(data["turns"]), "ratings": len(data["ratings"]), "workspaces": len(data["usage"])}
        if action == "export":
            text = json.dumps(data, ensure_ascii=False, indent=2)
            if output is None:
                print(text)
            else:
                with open(output, "w", encoding="utf-8") as out:
                    out.write(text + "\n")
            await audit.record("people.export", subject=user, output=output or "stdout", **counts)
            print(f"exported {counts['turns']} turn(s), {counts['ratings']} rating(s) and usage in "
                  f"{counts['workspaces']} workspace(s) of {user}", file=sys.stderr)
            return 0
        if not yes:
            print(f"forget-user deletes {counts['turns']} turn(s) and {counts['ratings']} rating(s) of {user} and "
                  "anonymises their usage: run it again with --yes", file=sys.stderr)
            return 2
        done = await people.forget(user)
        await audit.record("people.forget", subject=user, **done)
    print(f"forgot {user}: {done['turns']} turn(s) and {done['ratings']} rating(s) deleted, {done['usage_fields']} "
          "usage figure(s) anonymised", file=sys.stderr)
    return 0

