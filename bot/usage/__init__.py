"""What the bot spends and who may use it: the cost and usage ledger, quotas, allowlists."""
