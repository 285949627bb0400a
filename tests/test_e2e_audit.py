"""The audit log end to end: settings and admin actions, schedules and exports are recorded in
Redis and read back with ``python -m bot audit``; never the words people wrote."""

from __future__ import annotations

import json

from .harness import settled
from .test_cli import bare_env, run_bot
from .test_e2e_management import manage


def test_settings_and_admin_actions_are_audited_without_their_words(app, sender, slack, model, redis_url, key_prefix):
    slack.creators["C100"] = "U1"
    assert manage(sender, slack, "config set auto_reply off").startswith("`auto_reply` set")
    assert manage(sender, slack, "config set persona You guard the launch code 0000.").startswith("`persona` set")
    assert manage(sender, slack, "persona clear").startswith("Persona cleared")
    assert manage(sender, slack, 'schedule add "every day at 9:00" tell me the launch code').startswith("Scheduled")
    assert manage(sender, slack, "config set model gpt-5", user="U2").startswith("Only the channel's creator")
    assert manage(sender, slack, "reset").endswith("I removed its 1 scheduled prompt too.")
    settled(app)
    env = bare_env(REDIS_URL=redis_url, REDIS_KEY_PREFIX=key_prefix)
    assert run_bot("feedback", "export", env=env).returncode == 0

    shown = run_bot("audit", env=env)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    actions = [line.split("  ")[3] for line in lines]
    assert actions == ["config.set", "config.set", "persona.clear", "schedule.add", "reset", "export.feedback"], lines
    assert "key=auto_reply" in lines[0] and "value=off" in lines[0] and "channel=C100" in lines[0]
    assert "key=persona" in lines[1] and "characters=" in lines[1]
    assert "launch code" not in shown.stdout, "never the words people wrote"
    assert "runs=a prompt" in lines[3] and "cron=0 9 * * *" in lines[3]
    assert f"{len(lines)} entries" in shown.stderr

    as_json = [json.loads(line) for line in run_bot("audit", "--json", "--user", "U1", env=env).stdout.splitlines()]
    assert [entry["action"] for entry in as_json] == actions[:5], "the export was nobody's in Slack"
    assert all(entry["user"] == "U1" and entry["at"].startswith("20") for entry in as_json)
    assert run_bot("audit", "--since", "1h", env=env).stdout.splitlines() == lines
    assert run_bot("audit", "--since", "2099-01-01", env=env).stdout == ""
    bad = run_bot("audit", "--since", "last tuesday", env=env)
    assert bad.returncode != 0 and "--since 'last tuesday'" in bad.stderr and "Traceback" not in bad.stderr
