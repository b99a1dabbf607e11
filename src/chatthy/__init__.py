"""chatthy: one server, many terminal clients, chats with LLMs."""

__version__ = "0.1.0"
