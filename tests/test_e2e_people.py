"""People's data on request: export-user writes everything kept about a person; forget-user
deletes their turns and ratings everywhere and anonymises their usage; both audited."""

from __future__ import annotations

import json

from bot.memory.conversation import ConversationId

from .fakes.slack_api import TEAM_ID
from .harness import mention, message, settled
from .test_cli import bare_env, run_bot


def test_a_person_is_exported_and_forgotten_and_nobody_else(app, sender, slack, model, redis_url, key_prefix):
    root = mention("my badge number is 4417")
    sender.send_event(root)
    [answer] = slack.wait_for_answers(1)
    sender.send_event(message("and mine is 9001", user="U2", thread_ts=root["ts"]))
    sender.send_event(message("just between us", channel="D100", channel_type="im"))
    slack.wait_for_answers(3)
    sender.send_action("feedback_up", answer, response_url=slack.response_url("up"))
    slack.wait_for_response("up")
    settled(app)
    thread = ConversationId(TEAM_ID, "C100", root["ts"])
    env = bare_env(REDIS_URL=redis_url, REDIS_KEY_PREFIX=key_prefix)

    exported = run_bot("export-user", "U1", env=env)
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    texts = [turn["text"] for turn in data["turns"]]
    assert len(texts) == 2 and any("4417" in t for t in texts) and any("just between us" in t for t in texts)
    assert not any("9001" in t for t in texts), "only their own turns"
    assert [r["rating"] for r in data["ratings"]] == ["up"]
    assert data["usage"][TEAM_ID] and all(figures["calls"] >= 1 for figures in data["usage"][TEAM_ID].values())

    refused = run_bot("forget-user", "U1", env=env)
    assert refused.returncode == 2 and "run it again with --yes" in refused.stderr
    assert len([t for t in app.stored(thread) if t.user == "U1"]) == 1, "nothing deleted without --yes"

    forgotten = run_bot("forget-user", "U1", "--yes", env=env)
    assert forgotten.returncode == 0 and "2 turn(s) and 1 rating(s) deleted" in forgotten.stderr, forgotten.stderr
    kept = app.stored(thread)
    assert not any(t.user == "U1" for t in kept) and any(t.user == "U2" for t in kept), "the others' turns stay"
    again = json.loads(run_bot("export-user", "U1", env=env).stdout)
    assert again["turns"] == [] and again["ratings"] == [] and again["usage"] == {}
    usage = run_bot("usage", "--by", "user", "--json", env=env)
    assert usage.returncode == 0 and "forgotten" in usage.stdout and "U1" not in usage.stdout, usage.stdout

    audit = run_bot("audit", env=env).stdout.splitlines()
    assert [line.split("  ")[3] for line in audit] == ["people.export", "people.forget", "people.export"], \
        "a forget-user without --yes did nothing, so it is not in the log"
    assert "subject=U1" in audit[1] and "turns=2" in audit[1] and "usage_fields=" in audit[1]
    assert run_bot("forget-user", "not-a-user", "--yes", env=env).returncode == 2
