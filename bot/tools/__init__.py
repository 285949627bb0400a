"""Tools the model may call: built-in ones and those of MCP servers, run in rounds
inside one answer (``loop``), shown to the user as they run, some only after the
asker approves them."""
