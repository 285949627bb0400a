"""The answer pipeline: how one answer is made, as a sequence of small stages.

``bot/responder.py`` runs them in this order for a new message, a Regenerate press and an
edited question alike:

1. ``admit``    (admit.py)    flood limit, quotas, the reply's budget: may this job cost a model request?
2. ``gather``   (gather.py)   the asker's turn, the thread before the bot was called in, shared files
3. ``prepare``  (prepare.py)  system prompt (persona, the channel being viewed), the note, their size
4. ``generate`` (generate.py) the request, the model's stream and tool rounds, Stop
5. ``deliver``  (deliver.py)  the finished answer into Slack, posted again while Slack refuses it
6. ``record``   (record.py)   the ledger, metrics and the answer's log line, with the stored turns

Each stage is one class built once with what it needs; what flows between them are the
plain dataclasses of ``parts.py`` (``Context``, ``Answered``) and ``generate.Generated``.
The console runs the responder with a terminal writer; evals run generate and deliver
with a writer of their own (bot/evals/runner.py).  Prompt-file commands (bot/commands.py)
still make their request their own way.
"""
