"""python -m bot finetune: the dataset checked, uploaded and trained on through the files and
fine-tuning endpoints (OpenAI's wire format), and the tuned model promoted only when it passes
the eval cases at least as well as the model in use; a running bot then answers with it."""

from __future__ import annotations

import json
import textwrap

from .harness import SlackSender, mention, mention_answered, settled
from .test_cli import ROOT, bare_env, run_bot

CASES = textwrap.dedent("""\
    prompt: translate
    cases:
      - name: greeting to French
        vars: {language: French, text: "Good morning"}
        expect: [{contains: Bonjour}]
    """)


def example(n: int) -> str:
    return json.dumps({"messages": [{"role": "system", "content": "You are helpful."},
                                    {"role": "user", "content": f"question {n}"},
                                    {"role": "assistant", "content": f"answer {n}"}]})


def env_for(model, redis_url: str, key_prefix: str, tmp_path) -> dict[str, str]:  # noqa: ANN001
    return bare_env(REDIS_URL=redis_url, REDIS_KEY_PREFIX=key_prefix, OPENAI_BASE_URL=model.base_url,
                    OPENAI_API_KEY="sk-test", OPENAI_MODEL="gpt-4o-mini", MODEL_MAX_RETRIES="0",
                    PROMPTS_DIR=str(ROOT / "prompts"), PRICES_FILE=str(ROOT / "prices.yaml"),
                    TIKTOKEN_CACHE_DIR=str(tmp_path / "tiktoken"))


def test_a_dataset_is_checked_before_anything_is_uploaded(model, redis_url, key_prefix, tmp_path):
    dataset = tmp_path / "train.jsonl"
    dataset.write_text("\n".join([example(1), '{"messages": [{"role": "user", "content": "no answer"}]}', "not json"]))
    result = run_bot("finetune", "create", "--from", str(dataset), "--model", "gpt-4o-mini",
                     env=env_for(model, redis_url, key_prefix, tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert ("error: the dataset train.jsonl cannot be used: line 2: the last message is not the assistant's answer; "
            "line 3: not JSON; 3 example(s): the fine-tuning API needs at least 10") in result.stderr
    assert model.tuning.files == {} and model.tuning.jobs == {}


def test_create_follow_and_promote_through_the_eval_gate(start_app, slack, model, redis_url, key_prefix, tmp_path):
    env = env_for(model, redis_url, key_prefix, tmp_path)
    dataset = tmp_path / "train.jsonl"
    dataset.write_text("\n".join(example(n) for n in range(12)) + "\n")
    created = run_bot("finetune", "create", "--from", str(dataset), "--model", "gpt-4o-mini", "--suffix", "team",
                      env=env)
    assert created.returncode == 0, created.stderr
    assert "12 examples uploaded as file-1; job ftjob-1 (validating_files) trains gpt-4o-mini" in created.stdout
    assert model.tuning.files["file-1"] == ("train.jsonl", dataset.read_bytes())
    assert model.tuning.jobs["ftjob-1"]["suffix"] == "team"

    waiting = run_bot("finetune", "promote", "ftjob-1", "--cases", str(tmp_path), env=env)
    assert waiting.returncode == 2 and "job ftjob-1 is validating_files: only a finished job's model" in waiting.stderr

    tuned = "ft:gpt-4o-mini:org:team:abc123"
    model.tuning.finish("ftjob-1", tuned)
    followed = run_bot("finetune", "status", "ftjob-1", env=env)
    assert f"job ftjob-1: succeeded; base gpt-4o-mini; model {tuned}; 12,345 tokens trained" in followed.stdout

    (tmp_path / "cases.yaml").write_text(CASES)
    model.answer = lambda request: "Bonjour" if request.body["model"] in (tuned,) else "Hello"
    app = start_app()
    app.runtime.core.guards.promoted.refresh_seconds = 0.0  # read Redis at every answer (the bot's is 10 s)
    promoted = run_bot("finetune", "promote", "ftjob-1", "--cases", str(tmp_path / "cases.yaml"), env=env)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert f"promoted {tuned} for every channel without a model of its own: it passes 100% of the cases, " \
           "gpt-4o-mini 0%" in promoted.stdout

    mention_answered(app, slack, "hello after the promotion", 1)
    assert model.requests[-1].body["model"] == tuned, "the running bot answers with the promoted model"
    assert app.call(lambda: app.runtime.core.store.load(model_conversation(slack))).last_answer["model"] == tuned


def test_a_tuned_model_that_does_worse_is_not_promoted(model, redis_url, key_prefix, tmp_path):
    env = env_for(model, redis_url, key_prefix, tmp_path)
    dataset = tmp_path / "train.jsonl"
    dataset.write_text("\n".join(example(n) for n in range(10)))
    assert run_bot("finetune", "create", "--from", str(dataset), "--model", "gpt-4o-mini", env=env).returncode == 0
    worse = "ft:gpt-4o-mini:org::worse"
    model.tuning.finish("ftjob-1", worse)
    model.answer = lambda request: "Hello" if request.body["model"] == worse else "Bonjour"
    (tmp_path / "cases.yaml").write_text(CASES)
    result = run_bot("finetune", "promote", "ftjob-1", "--cases", str(tmp_path / "cases.yaml"), "--channel", "C100",
                     env=env)
    assert result.returncode == 1
    assert f"not promoted: {worse} passes 0% of the cases, gpt-4o-mini 100%" in result.stdout
    assert "gpt-4o-mini" in result.stdout.splitlines()[0] and worse in result.stdout.splitlines()[0]


def model_conversation(slack):  # noqa: ANN001, ANN201
    from bot.memory.conversation import ConversationId

    from .fakes.slack_api import TEAM_ID

    [answer] = list(slack.messages.values())
    return ConversationId(TEAM_ID, "C100", answer.thread_ts)


def test_the_team_s_rated_answers_are_the_dataset_exactly_as_exported(start_app, slack, model, redis_url, key_prefix,
                                                                        tmp_path):
    app = start_app()
    sender = SlackSender(app.url)
    try:
        for n in range(10):
            sender.send_event(mention(f"question number {n}"))
            [*_, answer] = slack.wait_for_answers(n + 1)
            sender.send_action("feedback_up", answer, response_url=slack.response_url(f"rate{n}"), user="U2")
            slack.wait_for_response(f"rate{n}")
        settled(app)
    finally:
        sender.close()
    env = env_for(model, redis_url, key_prefix, tmp_path)
    exported = run_bot("feedback", "export", "--format", "openai-chat", env=env)
    created = run_bot("finetune", "create", "--from", "feedback", "--model", "gpt-4o-mini", env=env)
    assert created.returncode == 0, created.stderr
    [(name, content)] = model.tuning.files.values()
    assert name.endswith(".jsonl") and content.decode() == exported.stdout and len(exported.stdout.splitlines()) == 10
