"""Everything that talks to Slack: replies and streams, rate budgets, history, names, formatting and splitting, events, the manifest."""
