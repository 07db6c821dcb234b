"""`atlas` commands that work on the shared store: users, API keys, the Lens' data.

Each opens the store the gateway uses (`open_store(..., role="command")`): as a guest of
a running gateway's embedded server, or its own for the length of the command.
"""
