"""Fine-tuning with an eval gate: the chat dataset checked, uploaded and trained on through
the OpenAI-compatible files and fine-tuning APIs, and the tuned model promoted only when it
passes the eval cases at least as well as the model in use."""
