"""``python -m bot knowledge add|list|remove|reindex``: the team's sources, in the Redis the bot
uses.  ``add`` takes a file, a folder (every PDF, Word, Markdown, text and HTML file in it) or
a URL, for everyone, for workspaces (``--workspace T…``) or for channels (``--channel C…``)."""

from __future__ import annotations

import dataclasses
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Sequence

from bot.errors import StartupError

SOURCE_CHARS = 2_000_000  # of one source's text (a book is about 500,000)


def add_knowledge_parser(commands: Any) -> None:
    knowledge = commands.add_parser("knowledge", help="the team's sources the answers cite: add, list, remove, reindex")
    actions = knowledge.add_subparsers(dest="knowledge_action", required=True)
    add = actions.add_parser("add", help="read a file, a folder or a URL into team knowledge")
    add.add_argument("source", help="a file, a folder or an http(s) URL")
    scope = add.add_mutually_exclusive_group()
    scope.add_argument("--channel", nargs="+", default=[], help="only for these channels' answers (C…)")
    scope.add_argument("--workspace", nargs="+", default=[], help="only for these workspaces' answers (T…)")
    actions.add_parser("list", help="the sources, with their audience and size")
    remove = actions.add_parser("remove", help="remove a source (by its id, location or name)")
    remove.add_argument("source")
    actions.add_parser("reindex", help="embed every passage again (after changing EMBEDDING_MODEL or _DIMENSIONS)")


async def knowledge_command(settings: Any, args: Any) -> int:
    from bot.operations.operator_commands import operator_store

    try:
        async with operator_store(settings, "knowledge is kept in the Redis the bot uses: set REDIS_URL") as store, \
                _library(settings, store) as library:
            if args.knowledge_action == "list":
                return await _list(library)
            if args.knowledge_action == "remove":
                return await _remove(library, args.source)
            if args.knowledge_action == "reindex":
                passages, tokens = await library.reindex(lambda record: print(f"re-embedded {record.name}"))
                print(f"{passages} passages embedded again ({tokens:,} tokens)")
                return 0
            return await _add(settings, library, args.source, _audiences(args))
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _audiences(args: Any) -> list[str]:
    from bot.knowledge.records import audience_tag

    try:
        return [audience_tag(channel=c) for c in args.channel] + [audience_tag(team=t) for t in args.workspace] \
            or [audience_tag()]
    except ValueError as exc:
        raise StartupError(str(exc)) from None


class _library:  # noqa: N801  (an async context manager, used like a function)
    def __init__(self, settings: Any, store: Any) -> None:
        self.settings, self.store = settings, store

    async def __aenter__(self) -> Any:
        from bot.knowledge.wiring import NoQueryEngine, library_of, open_knowledge
        from bot.llm.wiring import client_for
        from bot.tokens import TokenCounter

        settings = self.settings
        counter = TokenCounter.for_model(settings.openai_model, settings.tiktoken_cache_dir)
        self.client = client_for(settings, settings.openai_base_url, settings.model_api_key())
        try:
            # KNOWLEDGE=false only keeps answers from searching: an operator may fill it beforehand
            self.knowledge = await open_knowledge(settings.model_copy(update={"knowledge": True}), self.store.redis,
                                                  self.client, counter, self.store.keys.base)
        except NoQueryEngine as exc:
            raise StartupError(str(exc)) from None
        return library_of(self.knowledge)

    async def __aexit__(self, *exc: Any) -> None:
        await self.knowledge.close()
        await self.client.close()


async def _list(library: Any) -> int:
    from bot.knowledge.records import describe_audience

    sources = await library.sources()
    if not sources:
        print("no sources yet: add one with `python -m bot knowledge add <file|folder|URL>`")
        return 0
    for record in sources:
        added = datetime.fromtimestamp(record.added_at, timezone.utc).strftime("%Y-%m-%d")
        print(f"{record.id}  {describe_audience(record.audience):<22} {record.passages:>5} passages  {added}  "
              f"{record.name}" + (f"  <{record.link}>" if record.link and record.link != record.name else ""))
    return 0


async def _remove(library: Any, wanted: str) -> int:
    gone = await library.remove(wanted)
    if not gone:
        print(f"error: no source has the id, location or name {wanted!r} (see `knowledge list`)", file=sys.stderr)
        return 1
    for record in gone:
        print(f"removed {record.name} ({record.passages} passages)")
    return 0


async def _add(settings: Any, library: Any, source: str, audiences: Sequence[str]) -> int:
    from bot.files.extract import Unreadable
    from bot.knowledge.library import KnowledgeError
    from bot.knowledge.records import describe_audience
    from bot.llm.errors import ModelError

    failed = 0
    known: dict[str, bytes] = {}  # vectors by passage text: a document added for several audiences is embedded once
    async for name, document in _documents(settings, source):
        if isinstance(document, str):
            print(f"skipped {name}: {document}", file=sys.stderr)
            failed += 1
            continue
        for audience in audiences:
            try:
                added = await library.add(location=document.location, name=document.name, link=document.link,
                                          text=document.text, audience=audience, added_by="operator", known=known)
            except (KnowledgeError, ModelError, Unreadable) as exc:
                print(f"skipped {name}: {getattr(exc, 'kind', exc)}", file=sys.stderr)
                failed += 1
                continue
            print(f"{added.status} {document.name} for {describe_audience(audience)}: {added.record.passages} passages"
                  + (f" ({added.embedded} embedded, {added.tokens:,} tokens)" if added.status != "unchanged" else ""))
    return 1 if failed else 0


async def _documents(settings: Any, source: str) -> AsyncIterator[tuple[str, Any]]:
    """(name, Document or why it was skipped) for each document of ``source``."""
    import aiohttp

    from bot.files.extract import Unreadable
    from bot.files.sandbox import ExtractionPool
    from bot.knowledge.documents import fetch_page, read_file, readable_files
    from bot.runtime import sandbox_limits

    limits = sandbox_limits(settings)
    pool = ExtractionPool(dataclasses.replace(limits, file=dataclasses.replace(limits.file, max_chars=SOURCE_CHARS)))
    try:
        if source.startswith(("http://", "https://")):
            async with aiohttp.ClientSession() as session:
                try:
                    yield source, await fetch_page(source, session, pool, settings.file_max_bytes)
                except Unreadable as exc:
                    yield source, str(exc)
            return
        path = Path(source).expanduser()
        if not path.exists():
            raise StartupError(f"{source} is neither a file, a folder nor an http(s) URL")
        files = [(p, p.relative_to(path).as_posix()) for p in readable_files(path)] if path.is_dir() else [(path, path.name)]
        if not files:
            raise StartupError(f"{source} has no PDF, Word, Markdown, text or HTML file")
        for file, name in files:
            try:
                yield name, await read_file(file, pool, settings.file_max_bytes, name)
            except Unreadable as exc:
                yield name, str(exc)
    finally:
        await pool.close()
