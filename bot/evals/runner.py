"""Running evaluation cases through the bot's own pipeline: the prompt files, the system
prompt, the token budget and the model client Slack answers use; each case sampled
``repeat`` times per variant (a model, or a prompts folder), at most ``concurrency`` at once."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence

from bot.answer.deliver import Deliver
from bot.answer.generate import Generate
from bot.answer.prepare import prompt_file_request
from bot.answer.retrieve import Retrieve, with_passages
from bot.answer.outcomes import Outcomes
from bot.answer.parts import BotIdentity, Budget, Context
from bot.evals.cases import Case, EvalFileError, LoadedFile
from bot.evals.checks import JUDGE_PROMPT, Verdict, check_text, parse_judgement
from bot.llm.model import ModelClient, ModelError, ModelOptions, ModelReply
from bot.llm.turns import context_note, note_line
from bot.memory.conversation import StoredMessage
from bot.tokens import TokenCounter
from bot.memory.trimming import build_request, message_token_cap, plan_window
from bot.pricing import PriceTable
from bot.prompts import COMMON_VARIABLES, Prompt, PromptCatalog, parse_prompt
from bot.slack.events import IncomingMessage
from bot.tools.rounds import ToolLimits
from bot.tools.tenancy import ToolTenancy

EVAL_USER = "Eval"
EVAL_CHANNEL = "#evals"
EVAL_TEAM = "TEVAL"
# The message an eval answers, as the pipeline's stages see one (no Slack behind it).
EVAL_MESSAGE = IncomingMessage(EVAL_TEAM, "CEVAL", "channel", "UEVAL", "", "0", None, True, "eval")


class _EvalWriter:
    """The eval's deliver target: nothing is shown (the runner reads the generated text)."""

    async def start(self) -> bool:
        return True

    async def progress(self, text: str) -> None:
        return None

    async def finish(self, text: str) -> list[str]:
        return ["eval"]

    async def fail(self, sentence: str) -> None:
        return None


@dataclass(frozen=True)
class Variant:
    """What a case runs against: a model (None: the file's, else OPENAI_MODEL) and a prompts folder."""

    model: str | None
    prompts: PromptCatalog
    prompts_label: str
    default_model: str = "default model"  # what answers when neither --model nor the file names one
    route: str = ""  # the MODEL_ROUTES routes this model serves (`bot eval --routes`)

    def label(self, several_prompt_dirs: bool) -> str:
        model = self.model or self.default_model
        model = f"{self.route} ({model})" if self.route else model
        return f"{model} · {self.prompts_label}" if several_prompt_dirs else model


@dataclass
class Sample:
    answer: str
    passed: bool
    failures: list[str]
    latency_ms: float
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = 0.0
    notes: list[str] = field(default_factory=list)  # the judge's reasons
    error: str = ""  # the model or the judge could not answer: an infrastructure error, not a failure
    judge_tokens: int = 0  # the judge's tokens and cost, in the totals too
    judge_cost: float | None = 0.0


@dataclass
class CaseResult:
    file: Path
    case: str
    variant: Variant
    model: str  # the model that answered
    pass_rate: float
    samples: list[Sample]

    @property
    def passed_samples(self) -> int:
        return sum(sample.passed for sample in self.samples)

    @property
    def met(self) -> bool:
        return self.passed_samples >= self.pass_rate * len(self.samples) - 1e-9

    @property
    def errors(self) -> int:
        return sum(bool(sample.error) for sample in self.samples)

    @property
    def status(self) -> str:
        """"pass", "fail" (the answers fell short), or "error" (the model or the judge could not
        answer, and the answers that came did not fail it already)."""
        if self.met:
            return "pass"
        failed = sum(not sample.passed and not sample.error for sample in self.samples)
        return "error" if self.errors and len(self.samples) - failed >= self.pass_rate * len(self.samples) - 1e-9 \
            else "fail"

    @property
    def p50_latency_ms(self) -> float:
        return statistics.median(sample.latency_ms for sample in self.samples)

    @property
    def tokens(self) -> int:
        """Every token the case cost: the answers' and the judge's."""
        return sum(sample.input_tokens + sample.output_tokens + sample.judge_tokens for sample in self.samples)

    @property
    def judge_tokens(self) -> int:
        return sum(sample.judge_tokens for sample in self.samples)

    @property
    def cost(self) -> float | None:
        """The answers' and the judge's cost (None when any of it is unpriced)."""
        costs = [c for sample in self.samples for c in (sample.cost, sample.judge_cost)]
        return None if any(cost is None for cost in costs) else sum(c or 0.0 for c in costs)

    @property
    def judge_cost(self) -> float | None:
        costs = [sample.judge_cost for sample in self.samples]
        return None if any(cost is None for cost in costs) else sum(c or 0.0 for c in costs)


class EvalRunner:
    def __init__(
        self,
        *,
        model: ModelClient,
        counter: TokenCounter,
        prices: PriceTable,
        bot_name: str,
        max_context_tokens: int,
        trim_target_ratio: float,
        judge_model: str | None = None,
        concurrency: int = 4,
        now: Callable[[], datetime] = datetime.now,
        knowledge: Any = None,  # bot.evals.knowledge.EvalKnowledge: the files' knowledge folders
    ) -> None:
        self.knowledge = knowledge
        self.model = model
        self.counter = counter
        self.prices = prices
        self.bot_name = bot_name
        self.max_context_tokens = max_context_tokens
        self.trim_target_ratio = trim_target_ratio
        self.judge_model = judge_model or model.model
        self.concurrency = concurrency
        self.now = now
        self.judge = parse_prompt(JUDGE_PROMPT.read_text(encoding="utf-8"), JUDGE_PROMPT,
                                  frozenset({"rubric", "conversation", "answer"}))
        self.generate = Generate(model=model, counter=counter, budget=Budget(max_context_tokens, trim_target_ratio),
                                 outcomes=Outcomes(None), cache_key=lambda cid: None, stops=None, toolbox=None,
                                 default_tools=(), tool_limits=ToolLimits(), approver=None, tenancy=ToolTenancy())
        self.deliver = Deliver(counter=counter, identity=BotIdentity("UEVAL", "BEVAL", EVAL_TEAM), metrics=None)

    def validate(self, files: Sequence[LoadedFile], variants: Sequence[Variant]) -> None:
        """Every prompt a file names exists in every prompts folder, with every variable given."""
        for loaded in files:
            name = loaded.spec.prompt
            if name is None:
                continue
            for variant in variants:
                prompt = variant.prompts.prompts.get(name)
                if prompt is None:
                    raise EvalFileError(f"{loaded.path}: prompt {name!r} is not in {variant.prompts_label}")
                for case in loaded.spec.cases:
                    missing = sorted(prompt.variables - COMMON_VARIABLES - set(case.vars))
                    if missing:
                        raise EvalFileError(f"{loaded.path}: case {case.name!r}: vars lacks {', '.join(missing)} "
                                            f"(prompt {name!r} uses them)")

    async def run(
        self, files: Sequence[LoadedFile], variants: Sequence[Variant], *, repeat: int | None = None,
        name_filter: str | None = None, progress: Callable[[int, int], None] = lambda done, total: None,
    ) -> list[CaseResult]:
        self.validate(files, variants)
        limit = asyncio.Semaphore(self.concurrency)
        jobs: list[tuple[CaseResult, asyncio.Future[Sample]]] = []
        done = 0

        async def one(loaded: LoadedFile, case: Case, variant: Variant) -> Sample:
            nonlocal done
            async with limit:
                sample = await self._sample(loaded, case, variant)
            done += 1
            progress(done, len(jobs))
            return sample

        results: list[CaseResult] = []
        for loaded in files:
            spec = loaded.spec
            for case in spec.cases:
                if name_filter and name_filter.casefold() not in case.name.casefold():
                    continue
                for variant in variants:
                    result = CaseResult(loaded.path, case.name, variant, self._model_for(loaded, variant),
                                        case.pass_rate or spec.pass_rate, [])
                    results.append(result)
                    for _ in range(repeat or case.repeat or spec.repeat):
                        jobs.append((result, asyncio.ensure_future(one(loaded, case, variant))))
        progress(0, len(jobs))
        for result, job in jobs:
            result.samples.append(await job)
        return results

    def _model_for(self, loaded: LoadedFile, variant: Variant) -> str:
        header = variant.prompts.prompts[loaded.spec.prompt].header if loaded.spec.prompt else None
        return variant.model or loaded.spec.model or (header.model if header else None) or self.model.model

    def _common(self) -> dict[str, str]:
        return {"bot_name": self.bot_name, "date": self.now().strftime("%A, %d %B %Y"), "user_name": EVAL_USER,
                "channel": EVAL_CHANNEL}

    def _request(self, loaded: LoadedFile, case: Case, variant: Variant) -> tuple[Context, list[StoredMessage], int, ModelOptions]:
        """What Slack's pipeline would build for this case: its context, the turns kept, how
        many were trimmed, and the model options (``prepare``'s and ``gather``'s part)."""
        common = self._common()
        system = variant.prompts.system.render(common)
        system_tokens = self.counter.count_message(system)
        model = self._model_for(loaded, variant)
        if loaded.spec.prompt is not None:
            prompt: Prompt = variant.prompts.prompts[loaded.spec.prompt]
            context, turn, options = prompt_file_request(prompt, {**common, **case.vars}, system, system_tokens,
                                                         self.counter, self.max_context_tokens, model)
            return context, [turn], 0, options
        note = context_note(common["date"], EVAL_USER)
        fixed = system_tokens + self.counter.count_text(note_line(note))
        turns = [StoredMessage(m.role, m.content, self.counter.count_message(m.content))  # type: ignore[arg-type]
                 for m in case.messages or []]
        drop = plan_window(turns, fixed, self.max_context_tokens, self.trim_target_ratio)
        context = Context(system, note, fixed, message_token_cap(self.max_context_tokens, fixed), "system", 0)
        return context, turns[drop:], drop, ModelOptions(model=model)

    async def _sample(self, loaded: LoadedFile, case: Case, variant: Variant) -> Sample:
        """One answer through the answer pipeline's generate and deliver stages (delivered to
        the eval, not Slack): what an eval measures is what users get."""
        context, kept, drop, options = self._request(loaded, case, variant)
        writer = _EvalWriter()
        started = time.perf_counter()
        try:
            context, retrieved = await self._retrieved(loaded, context, kept)
        except ModelError as exc:
            failure = f"the embeddings model failed ({exc.kind})"
            return Sample("", False, [failure], (time.perf_counter() - started) * 1000, error=failure)
        generated = Retrieve.cite(context, await self.generate(EVAL_MESSAGE, writer, context, kept, drop, options=options))
        if generated.text is None:
            failure = f"the model failed ({generated.failure})"
            outage = generated.failure != "empty reply"  # an empty answer is the model's own failing, not an outage
            return Sample("", False, [failure], (time.perf_counter() - started) * 1000, error=failure if outage else "")
        await self.deliver(EVAL_MESSAGE, writer, generated)
        latency_ms = (time.perf_counter() - started) * 1000
        text, usage = generated.text, generated.usage.usage
        output_tokens = usage.completion_tokens or self.counter.count_text(text)
        sample = Sample(
            text, True, [], latency_ms, input_tokens=usage.prompt_tokens, cached_tokens=usage.cached_tokens,
            output_tokens=output_tokens,
            cost=self.prices.cost(options.model or self.model.model, input_tokens=usage.prompt_tokens,
                                  cached_tokens=usage.cached_tokens, output_tokens=output_tokens),
        )
        for check in case.expect:
            if check.kind == "judge":
                verdict = await self._judge(check.value, build_request(context.system_prompt, kept, context.note, context.knowledge), text,
                                            sample)
                if sample.error:
                    sample.passed = False
                    sample.failures.append(f"judge: {sample.error}")
                    continue
                if verdict.passed and verdict.reason:
                    sample.notes.append(f"judge: {verdict.reason}")  # a failing verdict's reason is its failure line
            elif check.kind == "retrieved":
                verdict = Verdict(check.value in retrieved,
                                  f"{check.value} is not among the passages found ({', '.join(retrieved) or 'none'})")
            else:
                verdict = check_text(check, text, output_tokens=output_tokens, latency_ms=latency_ms)
            if not verdict.passed:
                sample.passed = False
                sample.failures.append(f"{check.kind}: {verdict.reason}")
        return sample

    async def _retrieved(self, loaded: LoadedFile, context: Context, kept: list[StoredMessage]
                         ) -> tuple[Context, list[str]]:
        """The passages of the file's knowledge folder for the latest message, as Slack's answers get them."""
        if loaded.spec.knowledge is None or self.knowledge is None or not kept:
            return context, []
        found = await self.knowledge.search(loaded.path.parent / loaded.spec.knowledge, kept[-1].content)
        return with_passages(context, found.passages, self.counter), list(dict.fromkeys(p.name for p in found.passages))

    async def _judge(self, rubric: str, messages: list[dict[str, Any]], answer: str, sample: Sample) -> Verdict:
        """The judge's verdict; its tokens and cost are added to ``sample`` (its failure too, as an error)."""
        conversation = "\n\n".join(f"{m['role']}: {m['content']}" for m in messages if m["role"] != "system")
        text = self.judge.render({"rubric": rubric, "conversation": conversation, "answer": answer})
        reply = ModelReply()
        header = self.judge.header
        options = ModelOptions(model=self.judge_model, temperature=header.temperature,
                               max_output_tokens=header.max_output_tokens)
        try:
            async for _ in self.model.stream([{"role": "user", "content": text}], reply, options):
                pass
        except ModelError as exc:
            sample.error = f"the judge model failed ({exc.kind})"
            return Verdict(False, sample.error)
        usage = reply.usage
        output_tokens = usage.completion_tokens or self.counter.count_text(reply.text)
        sample.judge_tokens += usage.prompt_tokens + output_tokens
        cost = self.prices.cost(self.judge_model, input_tokens=usage.prompt_tokens, cached_tokens=usage.cached_tokens,
                                output_tokens=output_tokens)
        sample.judge_cost = None if cost is None or sample.judge_cost is None else sample.judge_cost + cost
        return parse_judgement(reply.text)
