"""The front of every store: the rules once, above the backends.

A backend subclasses :class:`StoreFront` and writes only persistence: the ``_``-named
hooks. Each public method of the :class:`~chatthy.store.base.Store` protocol that has a
rule is defined here once, ``@final``: it checks and normalises its arguments with
:mod:`chatthy.store.rules`, then calls its hook with values the backend can store as they
are (names stripped, content and usage as JSON text).

Why a base class with template methods rather than a front object wrapping a backend:
it is the simplest design in which a backend gets every rule. A wrapper would forward
each of the protocol's methods by hand, and every method a backend adds later, and would
hide the backend from the callers that need it (a test reaching SQLite's file); here
``SQLiteStore.open(path)`` keeps returning one object that is the whole store.

A backend cannot bypass the rules: ``@final`` makes mypy refuse an override of a ruled
method, and :meth:`StoreFront.__init_subclass__` refuses one when the class is made.

A backend implements:

* the hooks below, each documented with what it receives and what it raises; a hook
  raises chatthy's own errors, built by :mod:`chatthy.store.rules` (``no_chat``,
  ``chat_taken`` …), and translates its driver's errors into ``StoreError``;
* the public methods that have no rule (:meth:`aclose`, :meth:`get_profile`,
  :meth:`list_chats`, :meth:`list_prompts`, :meth:`list_workspace`), declared abstract
  here, and the protocol's reply leases and token counts;
* an ``open`` of its own (where the data lives differs by backend).

Some contracts need the data and so stay with the backend, written in the hooks'
documentation and checked by the one test-suite every backend runs (``tests/store``): a
name that is taken is a conflict, a row of another profile is "not found", every write
is one transaction, adding or changing messages marks the chat active.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Sequence
from typing import Any, final

from chatthy.errors import ArgumentError
from chatthy.store import rules
from chatthy.store.base import (
    ChatRecord,
    ImageIn,
    ImageRecord,
    MessageRecord,
    ProfileRecord,
    PromptRecord,
    SearchHit,
    Status,
    WorkspaceFileRecord,
)
from chatthy.store.rules import ChatChanges, MessageChanges, NewMessage

__all__ = ["HOOKS", "RULED", "StoreFront"]


class StoreFront(abc.ABC):
    """The rules of the :class:`~chatthy.store.base.Store` protocol over a backend's
    persistence hooks; a backend subclasses it (see the module docs)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Refuse a subclass that replaces a ruled (``@final``) method."""
        super().__init_subclass__(**kwargs)
        for name in RULED:
            if getattr(cls, name) is not getattr(StoreFront, name):
                raise TypeError(f"{cls.__name__} may not override {name}: the front's rules")

    # methods without a rule: the backend's own -----------------------------------------
    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close the database; closing twice is harmless, later calls raise StoreError."""

    @abc.abstractmethod
    async def get_profile(self, name: str) -> ProfileRecord | None:
        """The profile named exactly ``name``, with its chat and message counts, or None."""

    @abc.abstractmethod
    async def list_chats(self, profile: str, personality: str | None = None) -> list[ChatRecord]:
        """The profile's chats, most recently active first, optionally of one personality."""

    @abc.abstractmethod
    async def list_prompts(self, profile: str) -> list[PromptRecord]:
        """The profile's own prompts, by name."""

    @abc.abstractmethod
    async def list_workspace(self, profile: str) -> list[WorkspaceFileRecord]:
        """The profile's workspace files, benched ones included, by name."""

    # profiles ---------------------------------------------------------------------------
    @final
    async def register_profile(self, name: str, public_key: bytes) -> ProfileRecord:
        """Register a new profile. Raises ConflictError if it exists, ArgumentError if the
        name is not a valid name as given (a profile name is never altered: it salts the
        client's key) or the key is not bytes."""
        return await self._register_profile(
            rules.valid_profile_name(name), rules.valid_key(public_key)
        )

    @abc.abstractmethod
    async def _register_profile(self, name: str, public_key: bytes) -> ProfileRecord:
        """Store a new profile. Raises ``rules.profile_taken`` if it exists."""

    @final
    async def set_profile_key(self, name: str, public_key: bytes) -> None:
        """Give a profile a new key. Raises NotFoundError if it does not exist,
        ArgumentError if the key is not bytes."""
        await self._set_profile_key(name, rules.valid_key(public_key))

    @abc.abstractmethod
    async def _set_profile_key(self, name: str, public_key: bytes) -> None:
        """Replace a profile's key. Raises NotFoundError if it does not exist."""

    # chats ------------------------------------------------------------------------------
    @final
    async def get_chat(self, profile: str, name: str) -> ChatRecord:
        """Raises NotFoundError if the profile has no chat of that name."""
        return await self._get_chat(profile, rules.key(name))

    @final
    async def create_chat(
        self, profile: str, name: str, personality: str, provider: str, model: str
    ) -> ChatRecord:
        """Raises ConflictError if the name is taken, ArgumentError if it is not a name."""
        return await self._create_chat(
            profile,
            rules.valid_name("chat", name),
            rules.valid_text("personality", personality),
            rules.valid_text("provider", provider),
            rules.valid_text("model", model),
        )

    @final
    async def update_chat(
        self,
        profile: str,
        name: str,
        *,
        personality: str | None = None,
        provider: str | None = None,
        model: str | None = None,
    ) -> ChatRecord:
        """Change what the chat remembers (not its place in the list). Raises
        NotFoundError, ArgumentError."""
        changes = rules.chat_changes(personality, provider, model)
        return await self._update_chat(profile, rules.key(name), changes)

    @final
    async def rename_chat(self, profile: str, name: str, new_name: str) -> ChatRecord:
        """Raises NotFoundError, ConflictError if ``new_name`` is taken, or ArgumentError."""
        new_name = rules.valid_name("chat", new_name)
        return await self._rename_chat(profile, rules.key(name), new_name)

    @final
    async def delete_chat(self, profile: str, name: str) -> None:
        """Delete the chat, its messages and their search entries. Raises NotFoundError."""
        await self._delete_chat(profile, rules.key(name))

    @final
    async def fork_chat(
        self, profile: str, name: str, new_name: str, upto: int | None = None
    ) -> ChatRecord:
        """Copy the chat's messages up to and including ``upto`` (all when None) into a new
        chat remembering the same personality, provider and model. A reply still streaming
        is copied as ``interrupted``: nothing will complete the copy. Raises NotFoundError
        (chat, or ``upto`` not in it), ConflictError, ArgumentError."""
        new_name = rules.valid_name("chat", new_name)
        return await self._fork_chat(profile, rules.key(name), new_name, upto)

    @final
    async def import_chat(
        self, profile: str, name: str, personality: str, messages: list[dict[str, Any]]
    ) -> ChatRecord:
        """Create a chat holding ``messages`` (dicts with role, content and optionally
        status, provider, model, usage, error, created) in one transaction; a ``streaming``
        one arrives ``interrupted``. Raises ConflictError, ArgumentError."""
        name = rules.valid_name("chat", name)
        personality = rules.valid_text("personality", personality)
        now = time.time()
        listed = rules.valid_list("imported messages", messages)
        # 20,000 messages take ~40 ms to check: in a thread, so the event loop runs on
        checked = await asyncio.to_thread(lambda: [rules.imported_message(m, now) for m in listed])
        return await self._import_chat(profile, name, personality, checked)

    @abc.abstractmethod
    async def _get_chat(self, profile: str, name: str) -> ChatRecord:
        """The chat. Raises ``rules.no_chat``."""

    @abc.abstractmethod
    async def _create_chat(
        self, profile: str, name: str, personality: str, provider: str, model: str
    ) -> ChatRecord:
        """A new, empty chat. Raises ``rules.chat_taken``."""

    @abc.abstractmethod
    async def _update_chat(self, profile: str, name: str, changes: ChatChanges) -> ChatRecord:
        """Apply ``changes`` (none at all is fine) without marking the chat active; return
        the chat. Raises ``rules.no_chat``."""

    @abc.abstractmethod
    async def _rename_chat(self, profile: str, name: str, new_name: str) -> ChatRecord:
        """Raises ``rules.no_chat``, or ``rules.chat_taken`` if ``new_name`` is another
        chat's (renaming a chat to its own name changes nothing)."""

    @abc.abstractmethod
    async def _delete_chat(self, profile: str, name: str) -> None:
        """Delete the chat with its messages and their search entries. Raises
        ``rules.no_chat``."""

    @abc.abstractmethod
    async def _fork_chat(
        self, profile: str, name: str, new_name: str, upto: int | None
    ) -> ChatRecord:
        """In one transaction, a new chat ``new_name`` with the source's settings and a copy
        of its messages with id ``<= upto`` (all when None), in order, a ``streaming`` one
        copied as ``interrupted``. Raises ``rules.no_chat``, ``rules.no_message(upto,
        in_chat=True)``, ``rules.chat_taken``."""

    @abc.abstractmethod
    async def _import_chat(
        self, profile: str, name: str, personality: str, messages: list[NewMessage]
    ) -> ChatRecord:
        """In one transaction, a new chat (no provider or model) holding ``messages`` in
        order, each created and updated at its ``created``. Raises ``rules.chat_taken``."""

    # messages ---------------------------------------------------------------------------
    @final
    async def messages(
        self,
        profile: str,
        chat: str,
        *,
        before: int | None = None,
        limit: int | None = None,
        after: int | None = None,
    ) -> list[MessageRecord]:
        """The chat's messages, oldest first; with ``limit``, only the newest ``limit`` of
        those whose id is below ``before`` — so a client pages backwards by passing the
        first id it has — or, with ``after``, the oldest ``limit`` of those above it (a
        client pages forwards from the last id it has; ``after=0`` is the first page).
        Raises NotFoundError, ArgumentError for a negative limit."""
        limit = rules.valid_limit(limit)
        return await self._messages(profile, rules.key(chat), before, limit, after)

    @final
    async def add_message(
        self,
        profile: str,
        chat: str,
        role: str,
        content: Any,
        *,
        status: Status = "complete",
        provider: str = "",
        model: str = "",
        usage: dict[str, int] | None = None,
        error: str = "",
    ) -> MessageRecord:
        """Append a message and mark the chat active. A reply starts here as ``streaming``.
        Raises NotFoundError, ArgumentError."""
        message = rules.new_message(role, content, status, provider, model, usage, error)
        return (await self._add_messages(profile, rules.key(chat), [message]))[0]

    @final
    async def add_messages(
        self, profile: str, chat: str, messages: list[dict[str, Any]]
    ) -> list[MessageRecord]:
        """Append ``messages`` (dicts of :meth:`add_message`'s arguments) in one transaction
        and mark the chat active once: a question and its ``streaming`` reply cost one
        commit instead of two. All or none are added. Raises NotFoundError, ArgumentError."""
        checked = [rules.new_message_of(m) for m in rules.valid_list("messages to add", messages)]
        return await self._add_messages(profile, rules.key(chat), checked)

    @final
    async def update_message(
        self,
        profile: str,
        message_id: int,
        *,
        content: Any = None,
        status: Status | None = None,
        usage: dict[str, int] | None = None,
        error: str | None = None,
        tokens: int | None = None,
        images: Sequence[ImageIn] = (),
    ) -> None:
        """Change a message in place — a checkpoint of a growing reply (``content``), its
        completion (``content``, ``status``, ``usage`` together) or an edit — and mark the
        chat active. ``None`` leaves a field alone; new ``content`` keeps ``tokens`` as its
        count (None: not counted) and ``images`` the images it names. Raises
        NotFoundError, ArgumentError."""
        changes = rules.message_changes(content, status, usage, error, tokens)
        if "content" in changes and "tokens" not in changes:
            changes["tokens"] = None  # a count of the old content would be wrong
        kept = rules.valid_images(list(images))
        await self._update_message(profile, message_id, changes, kept)

    @final
    async def image(self, profile: str, digest: str) -> ImageRecord:
        """An image the profile keeps. Raises NotFoundError, ArgumentError (a digest that
        is not a sha256 in hex)."""
        if not isinstance(digest, str) or not rules.is_digest(digest):
            raise ArgumentError("an image is named by the sha256 of its bytes, in hex")
        return await self._image(profile, digest)

    @abc.abstractmethod
    async def _image(self, profile: str, digest: str) -> ImageRecord:
        """The image. Raises NotFoundError ("no such image") when the profile has none
        of that digest."""

    @final
    async def delete_messages_from(self, profile: str, chat: str, message_id: int) -> int:
        """Delete message ``message_id`` and every later one of the chat (to edit and
        regenerate from there); return how many. Raises NotFoundError."""
        return await self._delete_messages_from(profile, rules.key(chat), message_id)

    @final
    async def search(self, profile: str, query: str, limit: int = 20) -> list[SearchHit]:
        """Full-text search over the profile's messages, best first, each hit with a
        one-line snippet whose matches are wrapped in :data:`~chatthy.store.rules.
        SNIPPET_MARKS`. A query that is not valid search syntax is searched as plain
        words; one without a word, or a limit below 1, finds nothing."""
        if not rules.searchable(query, limit):
            return []
        return await self._search(profile, query, limit)

    @abc.abstractmethod
    async def _messages(
        self,
        profile: str,
        chat: str,
        before: int | None,
        limit: int | None,
        after: int | None = None,
    ) -> list[MessageRecord]:
        """Oldest first, the newest ``limit`` (all when None) with id below ``before``
        (no bound when None); with ``after``, the oldest ``limit`` with id above it.
        Raises ``rules.no_chat``."""

    @abc.abstractmethod
    async def _add_messages(
        self, profile: str, chat: str, messages: list[NewMessage]
    ) -> list[MessageRecord]:
        """Append all of ``messages`` in one transaction, ids increasing in order, and mark
        the chat active (``updated``) unless there are none. Raises ``rules.no_chat``."""

    @abc.abstractmethod
    async def _update_message(
        self,
        profile: str,
        message_id: int,
        changes: MessageChanges,
        images: tuple[ImageIn, ...] = (),
    ) -> None:
        """Apply ``changes``, set the message's ``updated`` and mark its chat active, keep
        ``images`` and, when the content changed, delete the profile's images no message
        names any more; one transaction. Raises ``rules.no_message`` unless the message
        is in one of the profile's chats."""

    @abc.abstractmethod
    async def _delete_messages_from(self, profile: str, chat: str, message_id: int) -> int:
        """Delete the message and every later one of the chat, with their search entries;
        mark the chat active; return how many. Raises ``rules.no_chat``, or
        ``rules.no_message(message_id, in_chat=True)``."""

    @abc.abstractmethod
    async def _search(self, profile: str, query: str, limit: int) -> list[SearchHit]:
        """At most ``limit`` hits, best first, over the text of the profile's messages
        (text parts only, not image URLs), ignoring case and accents; a query that is not
        valid syntax for the backend is searched as its plain words."""

    # prompts ----------------------------------------------------------------------------
    @final
    async def get_prompt(self, profile: str, name: str) -> PromptRecord:
        """Raises NotFoundError."""
        return await self._get_prompt(profile, rules.key(name))

    @final
    async def set_prompt(self, profile: str, name: str, text: str) -> PromptRecord:
        """Create or replace. Raises ArgumentError if the name is not a name."""
        name = rules.valid_name("prompt", name)
        return await self._set_prompt(profile, name, rules.valid_text("prompt text", text))

    @final
    async def rename_prompt(self, profile: str, name: str, new_name: str) -> PromptRecord:
        """Keeps the text and its time. Raises NotFoundError, ConflictError, ArgumentError."""
        new_name = rules.valid_name("prompt", new_name)
        return await self._rename_prompt(profile, rules.key(name), new_name)

    @final
    async def delete_prompt(self, profile: str, name: str) -> None:
        """Raises NotFoundError."""
        await self._delete_prompt(profile, rules.key(name))

    @abc.abstractmethod
    async def _get_prompt(self, profile: str, name: str) -> PromptRecord:
        """Raises ``rules.no_prompt``."""

    @abc.abstractmethod
    async def _set_prompt(self, profile: str, name: str, text: str) -> PromptRecord:
        """Create, or replace the text of, a prompt, stamped now."""

    @abc.abstractmethod
    async def _rename_prompt(self, profile: str, name: str, new_name: str) -> PromptRecord:
        """Keep the text and time. Raises ``rules.no_prompt``, ``rules.prompt_taken`` if
        ``new_name`` is another prompt's."""

    @abc.abstractmethod
    async def _delete_prompt(self, profile: str, name: str) -> None:
        """Raises ``rules.no_prompt``."""

    # workspace --------------------------------------------------------------------------
    @final
    async def get_workspace_file(self, profile: str, name: str) -> WorkspaceFileRecord:
        """Raises NotFoundError."""
        return await self._get_workspace_file(profile, rules.key(name))

    @final
    async def put_workspace_file(
        self, profile: str, name: str, text: str, source: str = ""
    ) -> WorkspaceFileRecord:
        """Create, or replace the text and source of, a file; a replaced file keeps its
        benched flag and creation time. Raises ArgumentError if the name is not a
        workspace name (see :func:`~chatthy.store.rules.valid_workspace_name`)."""
        name = rules.valid_workspace_name(name)
        text = rules.valid_text("workspace text", text)
        source = rules.valid_text("workspace source", source)
        return await self._put_workspace_file(profile, name, text, source)

    @final
    async def rename_workspace_file(
        self, profile: str, name: str, new_name: str
    ) -> WorkspaceFileRecord:
        """Raises NotFoundError, ConflictError if ``new_name`` is taken, ArgumentError."""
        new_name = rules.valid_workspace_name(new_name)
        return await self._rename_workspace_file(profile, rules.key(name), new_name)

    @final
    async def set_workspace_benched(
        self, profile: str, name: str, benched: bool
    ) -> WorkspaceFileRecord:
        """Bench (keep, do not send) or restore a file. Raises NotFoundError."""
        return await self._set_workspace_benched(profile, rules.key(name), bool(benched))

    @final
    async def delete_workspace_file(self, profile: str, name: str) -> None:
        """Raises NotFoundError."""
        await self._delete_workspace_file(profile, rules.key(name))

    @abc.abstractmethod
    async def _get_workspace_file(self, profile: str, name: str) -> WorkspaceFileRecord:
        """Raises ``rules.no_workspace_file``."""

    @abc.abstractmethod
    async def _put_workspace_file(
        self, profile: str, name: str, text: str, source: str
    ) -> WorkspaceFileRecord:
        """Create (not benched) or replace the text and source of a file, keeping a
        replaced file's benched flag and creation time; return it."""

    @abc.abstractmethod
    async def _rename_workspace_file(
        self, profile: str, name: str, new_name: str
    ) -> WorkspaceFileRecord:
        """Raises ``rules.no_workspace_file``, or ``rules.workspace_file_taken`` if
        ``new_name`` is another file's."""

    @abc.abstractmethod
    async def _set_workspace_benched(
        self, profile: str, name: str, benched: bool
    ) -> WorkspaceFileRecord:
        """Raises ``rules.no_workspace_file``."""

    @abc.abstractmethod
    async def _delete_workspace_file(self, profile: str, name: str) -> None:
        """Raises ``rules.no_workspace_file``."""


RULED = frozenset(
    name
    for name, value in vars(StoreFront).items()
    if getattr(value, "__final__", False) and not name.startswith("_")
)
"""The public methods whose rules live here; no backend may replace one."""
HOOKS = frozenset(name for name in StoreFront.__abstractmethods__ if name.startswith("_"))
"""The persistence hooks behind :data:`RULED`, which every backend implements."""
