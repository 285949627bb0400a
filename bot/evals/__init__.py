"""``python -m bot eval``: evaluation cases run through the same prompts, budget and model
client as Slack, checked, and reported (table, JSON, JUnit) as a CI gate."""
