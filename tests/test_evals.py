"""``python -m bot eval`` against the fake OpenAI server: pass, fail, repeat with a pass rate,
the judge, models and prompt folders side by side, JSON and JUnit, malformed files."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from xml.etree import ElementTree

import pytest

from bot.cli import main
from bot.evals.cases import find_eval_files, load_eval_file
from bot.evals.runner import EvalRunner, Variant
from bot.pricing import load_prices
from bot.prompts import load_catalog

from .fakes.openai_api import FakeModel, ModelRequest

ROOT = Path(__file__).resolve().parent.parent


class Answers:
    """The fake model's answers: by the request's model and what the last message asks."""

    def __init__(self) -> None:
        self.by_text: dict[str, str] = {}
        self.sequence: list[str] = []
        self.judge = "PASS\nIt does what the rubric asks."

    def __call__(self, request: ModelRequest) -> str:
        text = request.last_user_text
        if text.startswith("You grade an AI assistant's answer"):
            return self.judge
        if self.sequence:
            return self.sequence.pop(0)
        for needle, answer in self.by_text.items():
            if needle in text or needle == request.body.get("model"):
                return answer
        return "I do not know."


@pytest.fixture
def answers():
    return Answers()


@pytest.fixture
def eval_model(answers):
    fake = FakeModel(answer=answers).start()
    yield fake
    fake.stop()


@pytest.fixture
def run_eval(eval_model, monkeypatch, tmp_path, tiktoken_cache, capsys):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name, value in {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": eval_model.base_url, "OPENAI_MODEL": "gpt-4o-mini",
                        "TIKTOKEN_CACHE_DIR": tiktoken_cache, "MODEL_MAX_RETRIES": "0",
                        "PROMPTS_DIR": str(ROOT / "prompts"), "PRICES_FILE": str(ROOT / "prices.yaml")}.items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["eval", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def case_file(tmp_path: Path, text: str, name: str = "cases.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


TRANSLATE = """
    prompt: translate
    cases:
      - name: greeting to French
        vars: {language: French, text: "Good morning, team"}
        expect:
          - icontains: bonjour
          - not_contains: "Good morning"
          - max_tokens: 40
"""


def test_a_passing_case_exits_0_and_reports_tokens_and_cost(run_eval, answers, eval_model, tmp_path):
    answers.by_text["Good morning, team"] = "Bonjour l'équipe"
    code, out, _ = run_eval(case_file(tmp_path, TRANSLATE), "--json", str(tmp_path / "r.json"))
    assert code == 0
    assert "PASS  cases.yaml › greeting to French  1/1" in out
    assert "gpt-4o-mini (gpt-4o-mini): 1/1 cases pass (100%)" in out
    request = eval_model.requests[0]
    assert request.messages[0]["role"] == "system" and "Translate" in request.messages[1]["content"]
    assert request.body["temperature"] == 0  # the prompt file's own settings
    report = json.loads((tmp_path / "r.json").read_text())
    [case] = report["cases"]
    assert case["met"] and case["runs"][0]["input_tokens"] > 0 and case["cost_usd"] > 0


def test_a_failing_check_exits_1_and_shows_the_answer(run_eval, answers, tmp_path):
    answers.by_text["Good morning, team"] = "Good morning, team!\nsecond line"
    code, out, _ = run_eval(case_file(tmp_path, TRANSLATE))
    assert code == 1
    assert "FAIL  cases.yaml › greeting to French  0/1" in out
    assert "✗ icontains: does not contain 'bonjour' (any case); not_contains: contains 'Good morning'" in out
    assert "answer: 'Good morning, team!'" in out


def test_a_model_failure_is_an_error_apart_from_failures_through_the_answer_pipeline(run_eval, eval_model, tmp_path):
    """An eval runs the generate and deliver stages users' answers run: a model error ends the
    sample as it ends an answer, and counts as an error (exit 3: an outage, not a regression);
    an empty reply is a failure, not an empty answer."""
    from .fakes.openai_api import Scripted

    eval_model.enqueue(Scripted(status=500))
    code, out, _ = run_eval(case_file(tmp_path, TRANSLATE))
    assert code == 3 and "ERROR  cases.yaml › greeting to French  0/1" in out
    assert "the model failed (" in out and "1 could not be judged (model or judge errors)" in out
    eval_model.enqueue(Scripted(text=""))
    code, out, _ = run_eval(case_file(tmp_path, TRANSLATE))
    assert code == 1 and "the model failed (empty reply)" in out


def test_repeat_and_pass_rate(run_eval, answers, tmp_path):
    text = """
        prompt: translate
        repeat: 4
        pass_rate: {rate}
        cases:
          - name: greeting
            vars: {{language: French, text: "Good morning"}}
            expect: [{{icontains: bonjour}}]
    """
    answers.sequence = ["Bonjour", "Hello", "Bonjour", "Hello"]
    code, out, _ = run_eval(case_file(tmp_path, text.format(rate=0.5)), "--concurrency", "1")
    assert code == 0 and "PASS  cases.yaml › greeting  2/4" in out
    answers.sequence = ["Bonjour", "Hello", "Bonjour", "Hello"]
    code, out, _ = run_eval(case_file(tmp_path, text.format(rate=0.75)), "--concurrency", "1")
    assert code == 1 and "FAIL  cases.yaml › greeting  2/4" in out


def test_the_judge_grades_with_its_own_model_and_its_reason_is_shown(run_eval, answers, eval_model, tmp_path, monkeypatch):
    monkeypatch.setenv("JUDGE_MODEL", "gpt-judge")
    answers.by_text["What is my name?"] = "Your name is Ada."
    answers.judge = "FAIL\nIt adds a greeting the rubric does not allow."
    cases = """
        cases:
          - name: chat keeps context
            messages:
              - {role: user, content: "My name is Ada."}
              - {role: assistant, content: "Nice to meet you, Ada."}
              - {role: user, content: "What is my name?"}
            expect:
              - regex: "(?i)\\\\bada\\\\b"
              - judge: "The answer states the user's name and nothing else."
    """
    code, out, _ = run_eval(case_file(tmp_path, cases))
    assert code == 1
    assert "✗ judge: It adds a greeting the rubric does not allow." in out
    assert out.count("It adds a greeting the rubric does not allow.") == 1, "the reason is said once"
    summary = out.splitlines()[-1]
    judged_tokens = int(summary.split("(judge: ")[1].split(" tokens")[0].replace(",", ""))
    assert judged_tokens > 0 and summary.endswith("unpriced)"), "the judge's tokens (gpt-judge has no price) are counted"
    answered, judged = eval_model.requests
    assert [m["role"] for m in answered.dialogue] == ["user", "assistant", "user"]  # the pipeline's own request
    assert answered.note.startswith("Today is")
    assert judged.body["model"] == "gpt-judge" and "Your name is Ada." in judged.messages[0]["content"]
    answers.judge = "PASS\nIt states the name."
    code, out, _ = run_eval(case_file(tmp_path, cases))
    assert code == 0
    from .fakes.openai_api import Scripted

    eval_model.enqueue(Scripted(text="Your name is Ada."), Scripted(status=503))  # the answer, then a judge outage
    code, out, _ = run_eval(case_file(tmp_path, cases))
    assert code == 3 and "ERROR  cases.yaml › chat keeps context" in out and "the judge model failed" in out


def test_a_case_may_set_its_own_repeat_and_pass_rate(run_eval, answers, eval_model, tmp_path):
    cases = """
        prompt: translate
        repeat: 1
        cases:
          - name: sampled
            repeat: 3
            pass_rate: 0.6
            vars: {language: French, text: "Good morning"}
            expect: [{icontains: bonjour}]
          - name: once
            vars: {language: French, text: "Good evening"}
            expect: [{icontains: bonsoir}]
    """
    answers.by_text["Good morning"] = "Bonjour"
    answers.by_text["Good evening"] = "Bonsoir"
    code, out, _ = run_eval(case_file(tmp_path, cases))
    assert code == 0 and "PASS  cases.yaml › sampled  3/3" in out and "PASS  cases.yaml › once  1/1" in out
    assert len(eval_model.requests) == 4


def test_two_models_side_by_side_mark_the_cases_that_changed(run_eval, answers, tmp_path):
    answers.by_text["model-a"] = "Bonjour"
    answers.by_text["model-b"] = "Hello"
    code, out, err = run_eval(case_file(tmp_path, TRANSLATE), "--model", "model-a", "--model", "model-b",
                              "--junit", str(tmp_path / "j.xml"))
    assert code == 1, out + err
    header, row = out.splitlines()[:2]
    assert "model-a" in header and "model-b" in header
    assert row.startswith("cases.yaml › greeting to French") and "1/1 ✓" in row and "0/1 ✗" in row and row.endswith("≠")
    assert "model-a (model-a): 1/1 cases pass" in out and "model-b (model-b): 0/1 cases pass" in out
    suites = ElementTree.parse(tmp_path / "j.xml").getroot()
    assert [(s.get("name"), s.get("failures"), s.get("errors")) for s in suites] == [("model-a", "0", "0"),
                                                                                    ("model-b", "1", "0")]
    assert suites[1].find("testcase/failure") is not None
    assert all(s.get("timestamp") and float(s.get("time")) >= 0 for s in suites), "every suite says when and how long"
    ids = [(case.get("classname"), case.get("name")) for case in suites.iter("testcase")]
    assert len(set(ids)) == 2 and ids[0][1] == "greeting to French [model-a]", "test ids are unique per model"


def test_a_changed_prompt_folder_is_compared_with_the_current_one(run_eval, answers, tmp_path):
    changed = tmp_path / "new-prompts"
    shutil.copytree(ROOT / "prompts", changed)
    body = (changed / "translate.md").read_text().replace("Translate the text below", "Render, very formally, the text below")
    (changed / "translate.md").write_text(body)
    answers.by_text["very formally"] = "Hello"
    answers.by_text["Good morning, team"] = "Bonjour"
    code, out, _ = run_eval(case_file(tmp_path, TRANSLATE), "--prompts-dir", str(changed))
    assert code == 1
    assert "gpt-4o-mini · prompts" in out and "gpt-4o-mini · new-prompts" in out
    assert out.splitlines()[1].endswith("≠")


def test_malformed_files_stop_the_run_with_one_line(run_eval, tmp_path):
    bad = case_file(tmp_path, """
        prompt: translate
        cases:
          - name: broken one
            vars: {language: French}
            expect: [{icontains: bonjour}]
    """)
    code, out, err = run_eval(bad)
    assert code == 2 and out == ""
    assert err.strip() == f"error: {bad}: case 'broken one': vars lacks text (prompt 'translate' uses them)"
    code, _, err = run_eval(case_file(tmp_path, "cases:\n  - name: x\n    expect: [{sounds_like: y}]\n", "b.yaml"))
    assert code == 2 and "b.yaml: case 'x': expect.0: unknown check 'sounds_like'" in err
    code, _, err = run_eval(case_file(tmp_path, "prompt: nope\ncases:\n  - name: x\n    expect: [{contains: y}]\n", "c.yaml"))
    assert code == 2 and "prompt 'nope' is not in prompts" in err


def test_k_selects_cases_by_name(run_eval, answers, eval_model, tmp_path):
    answers.by_text["Good morning, team"] = "Bonjour"
    two = TRANSLATE + """
      - name: farewell to French
        vars: {language: French, text: "Goodbye"}
        expect: [{icontains: revoir}]
    """
    code, out, _ = run_eval(case_file(tmp_path, two), "-k", "greeting")
    assert code == 0 and "farewell" not in out and len(eval_model.requests) == 1


def test_the_shipped_cases_are_valid_for_the_shipped_prompts(tiktoken_cache):
    files = [load_eval_file(path) for path in find_eval_files([ROOT / "evals"])]
    assert {f.spec.prompt for f in files} == {"ask", "summarize", "translate", "rewrite", None}
    from bot.tokens import TokenCounter

    runner = EvalRunner(model=None, counter=TokenCounter.for_model("gpt-4o-mini", Path(tiktoken_cache)),  # type: ignore[arg-type]
                        prices=load_prices(ROOT / "prices.yaml"), bot_name="Assistant", max_context_tokens=16000,
                        trim_target_ratio=0.7, judge_model="gpt-4o-mini")
    runner.validate(files, [Variant(None, load_catalog(ROOT / "prompts"), "prompts")])


def test_routes_are_compared_side_by_side_each_on_its_own_server(run_eval, answers, tmp_path, monkeypatch):
    local = FakeModel(answer=lambda request: "Bonjour").start()
    try:
        routes = tmp_path / "routes.yaml"
        routes.write_text(f"routes:\n  - name: local\n    when: {{prompt: translate}}\n    model: llama3.3\n"
                          f"    base_url: {local.base_url}\n  - name: dms\n    when: {{surface: dm}}\n    model: gpt-4.1\n")
        monkeypatch.setenv("MODEL_ROUTES", str(routes))
        answers.by_text["gpt-4.1"] = "Hello"
        code, out, err = run_eval(case_file(tmp_path, TRANSLATE), "--routes")
    finally:
        local.stop()
    assert code == 1, out + err
    assert "local (llama3.3): 1/1 cases pass" in out and "dms (gpt-4.1): 0/1 cases pass" in out
    assert "default (gpt-4o-mini): 0/1 cases pass" in out
    assert [r.body["model"] for r in local.requests] == ["llama3.3"], "each route's model asked on its own server"

    monkeypatch.delenv("MODEL_ROUTES")
    code, _, err = run_eval(case_file(tmp_path, TRANSLATE), "--routes")
    assert code == 2 and "--routes compares the models of MODEL_ROUTES" in err


def test_retrieved_checks_the_passages_found_in_the_files_knowledge_folder(run_eval, answers, eval_model, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "deploys.md").write_text("# Deploys\n\n## Rolling back\n\nRun `deploy --undo` to roll back a release.")
    (folder / "leave.md").write_text("# Leave\n\n## Holidays\n\nEveryone gets 25 days of paid holiday a year.")
    answers.by_text["roll back"] = "Run `deploy --undo` [1]."
    path = case_file(tmp_path, """
        knowledge: docs
        cases:
          - name: rollback is found
            messages: [{role: user, content: "How do I roll back a release?"}]
            expect: [{retrieved: deploys.md}, {contains: "[1]"}, {contains: "Sources: [1] deploys.md"}]
          - name: wrong source
            messages: [{role: user, content: "How many holiday days do we get?"}]
            expect: [{retrieved: deploys.md}]
    """)
    code, out, err = run_eval(path)
    assert code == 1, out + err
    assert "PASS  cases.yaml › rollback is found" in out
    assert "retrieved: deploys.md is not among the passages found (leave.md" in out
    request = next(r for r in eval_model.requests if "roll back" in r.last_user_text)
    assert "deploy --undo" in request.knowledge, "the passages go into the request as in Slack"
    assert eval_model.embeddings and eval_model.embeddings[0]["model"] == "text-embedding-3-small"


def test_retrieved_needs_a_knowledge_folder(run_eval, tmp_path):
    path = case_file(tmp_path, """
        cases:
          - name: no folder
            messages: [{role: user, content: "hi"}]
            expect: [{retrieved: deploys.md}]
    """)
    code, out, err = run_eval(path)
    assert code == 2 and err.strip().endswith("'retrieved' needs a plain chat file with 'knowledge: <folder>'")
