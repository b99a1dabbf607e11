"""The built-in RPCs; importing this package registers them all."""

from chatthy.server.handlers import (
    chats,
    images,
    info,
    mcp,
    prompts,
    rag,
    replies,
    sources,
    templates,
    tools,
    transfer,
    workspace,
)

__all__ = [
    "chats",
    "images",
    "info",
    "mcp",
    "prompts",
    "rag",
    "replies",
    "sources",
    "templates",
    "tools",
    "transfer",
    "workspace",
]
