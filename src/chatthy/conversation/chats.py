"""The engine's chats: made, used, renamed, forked, imported, destroyed — and the news of
it.

Every change to one of a profile's chats is stored first, then told through the
broadcaster as :class:`~chatthy.conversation.events.ChatNews`, so that every client of
the profile (on this server or, with a broadcaster that crosses processes, on another)
can follow a chat renamed or destroyed elsewhere instead of making it again under its
old name. A reply's own progress is not news: its turn's events carry it.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from chatthy.config import ProviderConfig, ServerConfig
from chatthy.conversation.events import ChatNews
from chatthy.conversation.images import imported_images
from chatthy.conversation.prompts import ServerPrompts
from chatthy.conversation.transfer import Imported
from chatthy.conversation.turns import Broadcaster, Turn, Turns
from chatthy.errors import ArgumentError, ConflictError, NotFoundError
from chatthy.providers.base import Provider
from chatthy.store.base import ChatRecord, Store

__all__ = ["ChatBook"]

NewsKind = Literal["created", "renamed", "destroyed", "updated", "replied"]


class ChatBook:
    """What the engine does to chats themselves (not to their replies); the
    :class:`~chatthy.conversation.engine.Engine` is one."""

    config: ServerConfig
    store: Store
    providers: dict[str, Provider]
    provider_configs: dict[str, ProviderConfig]
    prompts: ServerPrompts
    turns: Turns
    broadcaster: Broadcaster

    def announce(
        self, profile: str, kind: NewsKind, chat: str, new: str = "", status: str = ""
    ) -> None:
        """Tell the profile's clients that ``chat`` changed (after the change is stored)."""
        self.broadcaster.publish_news(profile, ChatNews(kind, chat, new, status))

    # --- what a chat is made with ---------------------------------------------------
    def provider(self, name: str) -> Provider:
        """Raises NotFoundError if no provider has that name."""
        try:
            return self.providers[name]
        except KeyError:
            raise NotFoundError(
                f"no provider '{name}' (available: {', '.join(self.providers)})"
            ) from None

    def check_model(self, provider: str, model: str | None) -> None:
        """Raises ArgumentError for a model the provider's ``models`` list leaves out."""
        cfg = self.provider_configs.get(provider)
        if not model or cfg is None or not cfg.models or model in (cfg.model, *cfg.models):
            return
        allowed = ", ".join(dict.fromkeys((cfg.model, *cfg.models)))
        raise ArgumentError(f"provider '{provider}' offers only these models: {allowed}")

    def default_provider(self) -> str:
        return self.config.server.default_provider or next(iter(self.providers))

    def _brought(
        self, prompt: str | None, provider: str | None, model: str | None
    ) -> tuple[str | None, str | None]:
        """The provider and model for a chat switched to ``prompt``: as given, else as
        its front matter says."""
        settings = self.prompts.settings(prompt) if prompt is not None else None
        if settings is None or provider is not None:
            return provider, model
        if settings.provider is not None:
            return settings.provider, model if model is not None else settings.model
        return provider, model if model is not None else settings.model

    async def _check_choices(self, profile: str, prompt: str | None, provider: str | None) -> None:
        """Raises NotFoundError for a provider or personality that does not exist."""
        if provider is not None:
            self.provider(provider)
        if prompt is not None:
            await self.prompts.get(self.store, profile, prompt)

    # --- making chats -----------------------------------------------------------------
    async def new_chat(
        self,
        profile: str,
        name: str,
        prompt: str | None = None,
        provider: str | None = None,
        model: str | None = None,
    ) -> ChatRecord:
        """Create an empty chat. Raises NotFoundError, ConflictError."""
        provider, model = self._brought(prompt, provider, model)
        await self._check_choices(profile, prompt, provider)
        record = await self._create(profile, name, prompt, provider, model)
        self.announce(profile, "created", record.name)
        return record

    async def _create(
        self, profile: str, name: str, prompt: str | None, provider: str | None, model: str | None
    ) -> ChatRecord:
        """A new chat with the server's defaults for what is not given (checked)."""
        self.check_model(provider or self.default_provider(), model)
        return await self.store.create_chat(
            profile,
            name,
            prompt or self.config.server.default_prompt,
            provider or self.default_provider(),
            model or "",
        )

    async def ensure_chat(
        self,
        profile: str,
        name: str,
        *,
        prompt: str | None = None,
        provider: str | None = None,
        model: str | None = None,
    ) -> ChatRecord:
        """The chat ``name``, created if missing; remembers any personality, provider or
        model given. Raises NotFoundError for an unknown provider or prompt."""
        chat, change = await self._ensure(profile, name, prompt, provider, model)
        if change:
            self.announce(profile, change, chat.name)
        return chat

    async def _ensure(
        self,
        profile: str,
        name: str,
        prompt: str | None,
        provider: str | None,
        model: str | None,
    ) -> tuple[ChatRecord, NewsKind | None]:
        """:meth:`ensure_chat`, and what changed: the chat was ``created`` now, its
        settings ``updated``, or nothing (None). Announces nothing. A personality (an
        agent) that names a provider or model brings them when none is given."""
        provider, model = self._brought(prompt, provider, model)
        await self._check_choices(profile, prompt, provider)
        try:
            chat = await self.store.get_chat(profile, name)
        except NotFoundError:
            try:
                return await self._create(profile, name, prompt, provider, model), "created"
            except ConflictError:  # another request made it meanwhile (the store awaits)
                chat = await self.store.get_chat(profile, name)
        if not chat.provider and provider is None:
            provider = self.default_provider()
        if model is not None:
            self.check_model(provider or chat.provider, model)
        if (prompt, provider, model) == (None, None, None):
            return chat, None
        updated = await self.store.update_chat(
            profile, name, personality=prompt, provider=provider, model=model
        )
        settings = (updated.personality, updated.provider, updated.model)
        changed = settings != (chat.personality, chat.provider, chat.model)
        return updated, "updated" if changed else None

    async def fork(
        self, profile: str, chat: str, new: str, message_id: int | None = None
    ) -> ChatRecord:
        """A copy of ``chat`` up to and including ``message_id`` (all when None) named
        ``new``. Raises NotFoundError (chat or message), ConflictError (name taken)."""
        record = await self.store.fork_chat(profile, chat, new, message_id)
        self.announce(profile, "created", record.name)
        return record

    async def import_chat(self, profile: str, parsed: Imported, name: str | None) -> ChatRecord:
        """A new chat holding a parsed file's messages, named ``name`` (which must be
        free), else after the file (``imported`` when it names none), made free with a
        number: ``notes (2)``. Raises ConflictError when ``name`` is taken."""
        if name is not None:
            if await self._exists(profile, name):
                raise ConflictError(f"chat '{name}' already exists")
        else:
            name = await self._free_name(profile, parsed.name or "imported")
        personality = parsed.personality or self.config.server.default_prompt
        messages = await asyncio.to_thread(imported_images, parsed.messages)
        record = await self.store.import_chat(profile, name, personality, messages)
        self.announce(profile, "created", record.name)
        return record

    async def _exists(self, profile: str, name: str) -> bool:
        try:
            await self.store.get_chat(profile, name)
        except NotFoundError:
            return False
        return True

    async def _free_name(self, profile: str, base: str) -> str:
        name, n = base, 1
        while await self._exists(profile, name):
            n += 1
            name = f"{base} ({n})"
        return name

    # --- changing and ending chats ------------------------------------------------------
    def running(self, profile: str, chat: str) -> Turn | None:
        return self.turns.running(profile, chat)

    def not_running(self, profile: str, chat: str) -> None:
        """Raises ConflictError while a reply runs in ``chat`` (it must not change)."""
        if self.turns.running(profile, chat) is not None:
            raise ConflictError(f"a reply is running in chat '{chat}' (cancel it first)")

    async def rename(self, profile: str, chat: str, new: str) -> ChatRecord:
        self.not_running(profile, chat)
        record = await self.store.rename_chat(profile, chat, new)
        self.turns.rename(profile, chat, new)
        self.announce(profile, "renamed", chat, record.name)
        return record

    async def destroy(self, profile: str, chat: str) -> None:
        self.not_running(profile, chat)
        await self.store.delete_chat(profile, chat)
        self.turns.drop(profile, chat)
        self.announce(profile, "destroyed", chat)

    async def undo(self, profile: str, chat: str) -> int:
        """Remove the last turn (your last message and the reply); how many went."""
        self.not_running(profile, chat)
        rows = await self.store.message_tokens(profile, chat)
        users = [message_id for message_id, role, _ in rows if role == "user"]
        if not users:
            raise NotFoundError(f"chat '{chat}' has no message to undo")
        removed = await self.store.delete_messages_from(profile, chat, users[-1])
        self.turns.drop(profile, chat)
        self.announce(profile, "updated", chat)
        return removed
