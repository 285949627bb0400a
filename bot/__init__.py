"""An AI assistant for Slack: Bolt app, prompt handlers, per-thread memory and token budgets."""
