"""Stages of the answer pipeline on their own (bot/answer/): generate against the fake
model's real wire format, deliver into a writer that refuses, and the pure helpers.  The
end-to-end tests run them together, through Slack."""

from __future__ import annotations

import pytest

from bot.answer.deliver import Deliver
from bot.answer.generate import Generate, with_images
from bot.answer.outcomes import Outcomes
from bot.answer.parts import BotIdentity, Budget, Context
from bot.answer.prepare import PERSONA_HEADING, with_persona
from bot.files.reader import SharedImage
from bot.llm.model import ModelClient, build_openai_client
from bot.llm.turns import context_note
from bot.memory.conversation import StoredMessage
from bot.slack.events import IncomingMessage, classify
from bot.tokens import TokenCounter
from bot.tools.rounds import ToolLimits
from bot.tools.tenancy import ToolTenancy
from bot.wording import MODEL_FAILED

from .fakes.openai_api import FakeModel, Scripted
from .fakes.slack_api import TEAM_ID
from .harness import mention


class Writer:
    """A reply writer (bot/llm/writer.py's interface) that keeps what it is given and refuses
    ``refusals`` finishes first, as Slack does while it fails."""

    def __init__(self, refusals: int = 0) -> None:
        self.refusals = refusals
        self.progressed: list[str] = []
        self.finished: list[str] = []
        self.failures: list[str] = []

    async def start(self) -> bool:
        return True

    async def progress(self, text: str) -> None:
        self.progressed.append(text)

    async def finish(self, text: str) -> list[str]:
        self.finished.append(text)
        if self.refusals:
            self.refusals -= 1
            return []
        return ["1700000000.000100"]

    async def fail(self, sentence: str) -> None:
        self.failures.append(sentence)


@pytest.fixture
def counter(tiktoken_cache) -> TokenCounter:
    from pathlib import Path

    return TokenCounter.for_model("gpt-4o-mini", Path(tiktoken_cache))


def generate_stage(model: FakeModel, counter: TokenCounter) -> Generate:
    client = ModelClient(build_openai_client(api_key="sk-test", base_url=model.base_url, max_retries=0, timeout=10),
                         model="gpt-4o-mini", max_output_tokens=256, temperature=0.0, total_timeout=10, idle_timeout=5)
    return Generate(model=client, counter=counter, budget=Budget(4000, 0.7), outcomes=Outcomes(None),
                    cache_key=lambda cid: None, stops=None, toolbox=None, default_tools=(), tool_limits=ToolLimits(),
                    approver=None, tenancy=ToolTenancy())


def incoming(text: str) -> IncomingMessage:
    message = classify({"type": "event_callback", "team_id": TEAM_ID, "event": mention(text)}, "UBOT")
    assert isinstance(message, IncomingMessage)
    return message


def question(counter: TokenCounter, text: str) -> tuple[Context, list[StoredMessage]]:
    note = context_note("Friday, 04 December 2026", "alice")
    context = Context("Be brief.", note, counter.count_message("Be brief."), 1000, "system", 1)
    return context, [StoredMessage("user", text, counter.count_message(text), ts="1.1", user="U1")]


async def test_generate_streams_the_answer_and_a_failure_ends_in_one_sentence(model, counter):
    message = incoming("hello")
    stage = generate_stage(model, counter)
    context, kept = question(counter, "hello")
    writer = Writer()
    generated = await stage(message, writer, context, kept, drop=0)
    assert generated.text == "Answer to: hello" and generated.kept == 1 and writer.failures == []
    assert model.requests[0].note == context.note, "the note travels in the latest user turn"

    model.enqueue(Scripted(status=500))
    failed = await stage(message, writer := Writer(), context, kept, drop=0)
    assert failed.text is None and writer.failures == [MODEL_FAILED] and writer.finished == []


async def test_deliver_posts_again_while_slack_refuses_and_stores_the_posted_turn(counter):
    from bot.answer.generate import Generated
    from bot.llm.model import ModelReply
    message = incoming("hello")
    deliver = Deliver(counter=counter, identity=BotIdentity("UBOT", "BBOT", "T1"), metrics=None, retry_seconds=(0.01, 0.01))
    writer = Writer(refusals=2)
    answered = await deliver(message, writer, Generated("All good.", ModelReply()))
    assert writer.finished == ["All good."] * 3
    assert answered.posted == ["1700000000.000100"] and answered.turn is not None
    assert (answered.turn.role, answered.turn.content, answered.turn.ts) == ("assistant", "All good.", "1700000000.000100")

    nothing = await deliver(message, Writer(), Generated(None, ModelReply()))
    assert nothing.turn is None and nothing.posted == []


def test_a_persona_follows_the_rules_and_images_join_the_latest_user_turn():
    assert with_persona("Rules.", "  A pirate.  ") == "Rules." + PERSONA_HEADING + "A pirate."
    assert with_persona("Rules.", " ") == "Rules."
    request = [{"role": "system", "content": "S"}, {"role": "user", "content": "look"}]
    image = SharedImage("a.png", "data:image/png;base64,AAAA", 85)
    assert with_images(request, [image])[1]["content"] == [
        {"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": image.data_url, "detail": "auto"}}]
