"""``python -m bot check``: a doctor for operators.  One line per check, ✓ or ✗ (and ! for a
warning that does not fail); a failing line names the setting or file to fix.  Exit code 0
only when every check passes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TextIO

import openai
from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings

# Eviction policies that drop keys without an expiry time, or any key: conversations would vanish.


@dataclass
class Line:
    ok: bool
    text: str
    warning: bool = False

    def render(self) -> str:
        return f"{'!' if self.warning else '✓' if self.ok else '✗'} {self.text}"


async def check_slack(settings: Settings) -> list[Line]:
    from bot.slack.manifest import bot_scopes

    if settings.distributed:
        return [Line(True, "distributed app (SLACK_CLIENT_ID and SLACK_CLIENT_SECRET): each workspace's token comes "
                           "from its installation at /slack/install")]
    client = AsyncWebClient(token=settings.bot_token(), base_url=settings.slack_api_url,
                            timeout=int(max(1, settings.slack_timeout_seconds)))
    try:
        response = await client.auth_test()
    except SlackApiError as exc:
        return [Line(False, f"Slack rejected SLACK_BOT_TOKEN ({exc.response.get('error')}): copy the Bot User OAuth "
                            "Token again from your app's 'OAuth & Permissions' page")]
    except Exception as exc:
        return [Line(False, f"Slack's Web API at SLACK_API_URL does not answer ({type(exc).__name__})")]
    lines = [Line(True, f"Slack token accepted: {response.get('user')} in {response.get('team')}")]
    granted = {scope.strip() for scope in str(response.headers.get("x-oauth-scopes", "")).split(",") if scope.strip()}
    needed = bot_scopes(search=settings.tool_search_workspace, canvases=settings.tool_write_canvas)
    missing = [scope for scope in needed if scope not in granted]
    if missing:
        lines.append(Line(False, f"the token lacks scopes {', '.join(missing)}: print the manifest "
                                 "(python -m bot manifest), update the app with it and reinstall"))
    else:
        lines.append(Line(True, f"the token holds every scope the manifest asks for ({len(needed)})"))
    return lines


async def check_model(settings: Settings) -> list[Line]:
    from bot.llm.model import build_openai_client

    client = build_openai_client(api_key=settings.model_api_key(), base_url=settings.openai_base_url, max_retries=0,
                                 timeout=min(settings.model_timeout_seconds, 20))
    where = "OPENAI_BASE_URL" if settings.openai_base_url else "OpenAI's API"
    model = settings.openai_model
    try:
        await client.models.retrieve(model)
    except openai.AuthenticationError:
        return [Line(False, f"{where} refused OPENAI_API_KEY")]
    except openai.APIStatusError as exc:
        if exc.status_code not in (404, 405, 501):
            return [Line(False, f"{where} answered HTTP {exc.status_code} when asked for {model!r}")]
        # Not found, or a server without GET /models/{id} (vLLM): the list of models decides.
        listed = await listed_models(client)
        if listed is None or model not in listed:
            served = f" (it serves {', '.join(sorted(listed)[:8])})" if listed else ""
            return [Line(False, f"{where} has no model {model!r}{served}: set OPENAI_MODEL to one it serves")]
        return [Line(True, f"the model endpoint answers and lists {model}")]
    except openai.APIConnectionError:
        return [Line(False, f"the model endpoint ({where}) does not answer: check OPENAI_BASE_URL and the network")]
    finally:
        await client.close()
    return [Line(True, f"the model endpoint answers and serves {model}")]


async def listed_models(client: Any) -> set[str] | None:
    """The models the server lists (``GET /models``); None when it will not list them."""
    try:
        return {item.id async for item in client.models.list()}
    except (openai.APIStatusError, openai.APIConnectionError):
        return None


async def check_redis(settings: Settings) -> list[Line]:
    from bot.memory.connection import connect

    if settings.embedded_store:
        return [Line(True, "no REDIS_URL: the embedded in-process store (per process, lost on restart; "
                           "set REDIS_URL for production)", warning=True)]
    redis = connect(settings.redis_url)
    try:
        server = await redis.info("server")
        memory = await redis.info("memory")
    except (RedisError, OSError) as exc:
        return [Line(False, f"Redis at REDIS_URL does not answer ({type(exc).__name__}): start it or fix the URL")]
    finally:
        await redis.aclose()
    lines = [Line(True, f"Redis {server.get('redis_version', '?')} answers")]
    lines.append(memory_policy_line(str(memory.get("maxmemory_policy", "noeviction")),
                                    int(memory.get("maxmemory", 0) or 0)))
    return lines


def memory_policy_line(policy: str, maxmemory: int) -> Line:
    """Whether Redis may drop the bot's keys when full.  Every key the bot writes for delivery
    (claims, leases, queues, the inbox) carries a TTL, so volatile-* policies may drop a
    message being answered as surely as allkeys-* ones."""
    if policy != "noeviction" and maxmemory:
        return Line(True, f"Redis evicts with {policy}: when memory is full it may drop conversations, leases "
                          "and queued messages; set maxmemory-policy noeviction", warning=True)
    return Line(True, f"Redis memory policy {policy} keeps conversations")


def check_files(settings: Settings) -> list[Line]:
    """The prompt files, eval files, prices and MCP servers file: each checked even when another fails."""
    from bot.prompts import PromptError, load_catalog

    try:
        catalog = load_catalog(settings.prompts_dir, reserved_commands=frozenset({settings.management_command}))
        lines = [Line(True, f"prompt files valid ({len(catalog.prompts) + 1} in {settings.prompts_dir})")]
    except PromptError as exc:
        catalog, lines = None, [Line(False, f"invalid prompt file {exc}")]
    prices, price_lines = check_prices(settings)
    return [*lines, *check_rubrics(settings, catalog), *check_evals(settings, catalog, prices), *price_lines,
            *check_mcp_config(settings), *check_routes(settings)]


def check_routes(settings: Settings) -> list[Line]:
    """MODEL_ROUTES read and every ${VAR} in it set."""
    import os

    from bot.llm.routes import RoutesError, load_routes

    if settings.model_routes is None:
        return []
    try:
        routes = load_routes(settings.model_routes, os.environ)
    except RoutesError as exc:
        return [Line(False, f"invalid MODEL_ROUTES {exc}")]
    models = sorted({route.model for route in routes.routes})
    return [Line(True, f"MODEL_ROUTES valid ({len(routes.routes)} routes to {', '.join(models)})")]


def check_rubrics(settings: Settings, catalog: Any) -> list[Line]:
    """With online evaluation on: the rubric files, and the one each prompt names."""
    from bot.prompts import PromptError
    from bot.quality.rubrics import DEFAULT_RUBRIC, load_rubrics

    if settings.online_eval_sample_rate <= 0 or catalog is None:
        return []
    try:
        rubrics = load_rubrics(settings.prompts_dir, catalog)
    except PromptError as exc:
        return [Line(False, f"invalid rubric {exc}")]
    if DEFAULT_RUBRIC not in rubrics.rubrics:
        return [Line(False, f"no rubrics/{DEFAULT_RUBRIC}.md in {settings.prompts_dir}: prompts without a rubric of "
                            "their own are judged by it (ONLINE_EVAL_SAMPLE_RATE)")]
    return [Line(True, f"rubrics valid ({len(rubrics.rubrics)}; {settings.online_eval_sample_rate:.0%} of answers judged)")]


async def check_moderation(settings: Settings) -> list[Line]:
    """With MODERATION on: the moderations endpoint answers for MODERATION_MODEL."""
    from bot.llm.model import build_openai_client

    if settings.moderation == "off":
        return []
    client = build_openai_client(api_key=settings.model_api_key(), base_url=settings.openai_base_url, max_retries=0,
                                 timeout=min(settings.model_timeout_seconds, 20))
    try:
        await client.moderations.create(model=settings.moderation_model, input="hello")
    except (openai.APIStatusError, openai.APIConnectionError) as exc:
        status = f"HTTP {exc.status_code}" if isinstance(exc, openai.APIStatusError) else "no answer"
        return [Line(False, f"the moderations endpoint failed for {settings.moderation_model!r} ({status}): "
                            "MODERATION would let every text through unchecked")]
    finally:
        await client.close()
    return [Line(True, f"the moderations endpoint answers ({settings.moderation_model}, MODERATION={settings.moderation})")]


def check_evals(settings: Settings, catalog: Any, prices: Any) -> list[Line]:
    """Every eval file read (its checks, JSON schemas included) and, with valid prompt files, the prompts it names."""
    from bot.evals.cases import EvalFileError, find_eval_files, load_eval_file
    from bot.evals.runner import EvalRunner, Variant
    from bot.pricing import PriceTable
    from bot.tokens import TokenCounter

    if not settings.evals_dir.is_dir():
        return []
    try:
        files = [load_eval_file(path) for path in find_eval_files([settings.evals_dir])]
        cases = f"{sum(len(f.spec.cases) for f in files)} cases in {settings.evals_dir}"
        if catalog is None:
            return [Line(True, f"eval files read ({cases}); the prompts they name are checked once the prompt files "
                               "are valid", warning=True)]
        counter = TokenCounter.for_model(settings.openai_model, settings.tiktoken_cache_dir)
        runner = EvalRunner(model=None, counter=counter, prices=prices or PriceTable({}),  # type: ignore[arg-type]
                            bot_name=settings.bot_name, max_context_tokens=settings.max_context_tokens,
                            trim_target_ratio=settings.trim_target_ratio, judge_model=settings.openai_model)
        runner.validate(files, [Variant(None, catalog, str(settings.prompts_dir))])
        return [Line(True, f"eval files valid ({cases})")]
    except EvalFileError as exc:
        return [Line(False, f"invalid eval file {exc}")]


def check_prices(settings: Settings) -> tuple[Any, list[Line]]:
    """PRICES_FILE read once, and every model the bot may ask priced.  An unpriced model is a
    failure only where a cost limit depends on it (TEAM_MONTHLY_COST_LIMIT_USD); otherwise a
    warning (a local model may cost nothing)."""
    from bot.pricing import PricesError, load_prices

    choices = sorted(settings.allowed_model_names - {settings.openai_model})
    try:
        prices = load_prices(settings.prices_file)
    except PricesError as exc:
        return None, [Line(False, f"invalid PRICES_FILE: {exc}")]
    lines = []
    for name, model in (("OPENAI_MODEL", settings.openai_model), ("JUDGE_MODEL", settings.judge_model),
                        *(("ALLOWED_MODELS", choice) for choice in choices)):
        if model is None:
            continue
        if prices.price_of(model) is not None:
            lines.append(Line(True, f"{name} {model} is priced"))
        elif settings.team_monthly_cost_limit_usd:
            lines.append(Line(False, f"{name} {model!r} has no price in PRICES_FILE ({settings.prices_file}): its cost "
                                     "counts as $0, so TEAM_MONTHLY_COST_LIMIT_USD cannot hold; add it"))
        else:
            lines.append(Line(True, f"{name} {model!r} has no price in PRICES_FILE ({settings.prices_file}): its cost "
                                    "counts as $0 (fine for a model that costs nothing; add it otherwise)", warning=True))
    if choices:
        lines.append(Line(True, f"channels may choose their model among {', '.join([settings.openai_model, *choices])} "
                                "(ALLOWED_MODELS; /assistant config set model)"))
    return prices, lines


def check_mcp_config(settings: Settings) -> list[Line]:
    from bot.tools.mcp_config import McpConfigError, load_mcp_config

    path = settings.mcp_config_path()
    if path is None:
        return []
    try:
        servers = load_mcp_config(path, os.environ)
        return [Line(True, f"MCP_CONFIG valid ({len(servers)} servers in {path})")]
    except McpConfigError as exc:
        return [Line(False, f"invalid MCP_CONFIG: {exc}")]


async def run_checks(settings: Settings, out: TextIO) -> int:
    lines = [Line(True, "settings valid")]
    from bot.knowledge.doctor import check_knowledge

    steps: list[Callable[[Settings], Awaitable[list[Line]]]] = [check_slack, check_model, check_moderation, check_redis]
    for step in steps:
        lines += await step(settings)
    lines += [Line(ok, text) for ok, text in await check_knowledge(settings)]
    lines += check_files(settings)
    for line in lines:
        out.write(line.render() + "\n")
    failed = sum(not line.ok for line in lines)
    out.write(f"{failed} check(s) failed\n" if failed else "all checks passed\n")
    return 1 if failed else 0
