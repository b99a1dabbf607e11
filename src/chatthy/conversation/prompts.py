"""Personalities: a profile's own prompts over the server's defaults.

Server defaults are the built-in ``default`` plus every ``prompts/NAME.md`` and
``agents/NAME.md`` in the config dir; they are read-only to profiles, which shadow them by
saving a prompt of the same name. A file may begin with YAML front matter between ``---``
lines: ``tools`` (the tools its chats may use), ``max_steps``, ``provider``, ``model``
(what a chat switched to it uses unless told otherwise). An agent is such a file in
``agents/``: a personality with its tools and model.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import msgspec
import yaml

from chatthy.errors import ArgumentError, NotFoundError
from chatthy.store.base import Store

__all__ = ["BUILTIN_PROMPT", "PromptInfo", "PromptSettings", "ServerPrompts", "front_matter"]

log = logging.getLogger("chatthy.server")

BUILTIN_PROMPT = "You are a helpful assistant. Answer clearly and concisely."


class PromptInfo(msgspec.Struct):
    """A prompt as clients see it; ``source`` is ``profile`` or ``server``."""

    name: str
    text: str
    source: str
    updated: float = 0.0


class PromptSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a prompt file's front matter sets for the chats that use it."""

    tools: list[str] | None = None
    """The tools its chats may use (of those ``[tools] enabled``); None: all of them."""
    max_steps: int | None = None
    provider: str | None = None
    model: str | None = None
    agent: bool = False
    """It came from ``agents/`` (chosen with ``--agent``, ``/agent``)."""
    description: str = ""


def front_matter(text: str, where: str) -> tuple[PromptSettings | None, str]:
    """The settings of a file's front matter (None without one) and the text after it.

    Raises:
        ValueError: the front matter is not YAML, or sets what a prompt cannot.
    """
    if not text.startswith("---"):
        return None, text
    head, sep, body = text[3:].partition("\n---")
    if not sep:
        return None, text
    try:
        raw = yaml.safe_load(head) or {}
        if not isinstance(raw, dict):
            raise ValueError("the front matter is not a table of settings")
        if isinstance(raw.get("tools"), str):
            raw["tools"] = [t.strip() for t in raw["tools"].split(",") if t.strip()]
        settings = msgspec.convert(raw, PromptSettings)
    except (yaml.YAMLError, msgspec.ValidationError) as exc:
        raise ValueError(f"{where}: front matter: {str(exc).splitlines()[0]}") from None
    return settings, body.partition("\n")[2].strip()


def _state_of(folder: Path) -> tuple[tuple[str, int, int], ...] | None:
    """Each ``*.md`` of ``folder`` with its modification time and size (None: no folder)."""
    try:
        with os.scandir(folder) as entries:
            return tuple(
                sorted(
                    (e.name, (st := e.stat()).st_mtime_ns, st.st_size)
                    for e in entries
                    if e.name.endswith(".md")
                )
            )
    except OSError:
        return None


def _read_prompt(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError as exc:
        log.warning("prompt %s left out: not UTF-8 text (byte %d)", path, exc.start)
    except OSError as exc:
        log.warning("prompt %s left out: %s", path, exc.strerror or exc)
    return None


class ServerPrompts:
    """The server's read-only default prompts. The ``prompts`` folder is looked at again
    whenever the prompts are asked for (one listing of it, with each file's time and
    size), and read again when any of that changed: an edited, added or removed file
    counts without a restart."""

    def __init__(
        self,
        prompts: dict[str, str],
        folder: Path | None = None,
        configured: dict[str, str] | None = None,
    ) -> None:
        self._defaults = prompts
        self.folder = folder
        self.agents_folder = folder.parent / "agents" if folder is not None else None
        self.configured = {"default": BUILTIN_PROMPT, **(configured or {})}
        self._settings: dict[str, PromptSettings] = {}
        self._seen = self._state()

    @classmethod
    def load(cls, config_dir: Path, configured: dict[str, str] | None = None) -> ServerPrompts:
        """The built-in prompt, ``[prompts]`` of server.toml, then ``prompts/*.md`` (a file
        wins over a table entry of the same name); a file that cannot be read as UTF-8
        text is left out with a warning, so that one bad file does not stop the server."""
        folder = config_dir / "prompts"
        made = cls({}, folder, configured)
        made._defaults = made._read()
        return made

    def _state(self) -> tuple[object, ...] | None:
        if self.folder is None or self.agents_folder is None:
            return None
        return (_state_of(self.folder), _state_of(self.agents_folder))

    @property
    def defaults(self) -> dict[str, str]:
        """The server's prompts by name, as the folders hold them now."""
        if self.folder is not None:
            state = self._state()
            if state != self._seen:
                self._seen = state
                self._defaults = self._read()
        return self._defaults

    def settings(self, name: str) -> PromptSettings | None:
        """What the server's prompt or agent ``name`` sets (None: nothing)."""
        self.defaults  # noqa: B018 - read the folders again if they changed
        return self._settings.get(name)

    def agents(self) -> dict[str, PromptSettings]:
        """The server's agents by name."""
        self.defaults  # noqa: B018
        return {name: s for name, s in self._settings.items() if s.agent}

    def _read(self) -> dict[str, str]:
        prompts = dict(self.configured)
        settings: dict[str, PromptSettings] = {}
        for folder, agent in ((self.folder, False), (self.agents_folder, True)):
            if folder is None or not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.md")):
                if (text := _read_prompt(path)) is None:
                    continue
                try:
                    found, body = front_matter(text, str(path))
                except ValueError as exc:
                    log.warning("prompt %s left out: %s", path, exc)
                    continue
                prompts[path.stem] = body
                if found is not None or agent:
                    settings[path.stem] = msgspec.structs.replace(
                        found or PromptSettings(), agent=agent
                    )
        self._settings = settings
        return prompts

    async def list(self, store: Store, profile: str) -> list[PromptInfo]:
        own = {
            p.name: PromptInfo(p.name, p.text, "profile", p.updated)
            for p in await store.list_prompts(profile)
        }
        for name, text in self.defaults.items():
            own.setdefault(name, PromptInfo(name, text, "server"))
        return sorted(own.values(), key=lambda p: p.name)

    async def get(self, store: Store, profile: str, name: str) -> PromptInfo:
        """Raises NotFoundError if neither the profile nor the server has it."""
        try:
            p = await store.get_prompt(profile, name)
            return PromptInfo(p.name, p.text, "profile", p.updated)
        except NotFoundError:
            if name in self.defaults:
                return PromptInfo(name, self.defaults[name], "server")
            raise NotFoundError(f"no prompt '{name}'") from None

    async def text(self, store: Store, profile: str, name: str) -> str:
        """The prompt's text, or empty if it no longer exists."""
        try:
            return (await self.get(store, profile, name)).text
        except NotFoundError:
            return ""

    def check_writable(self, store_has: bool, name: str) -> None:
        """Raises ArgumentError when only a server default of that name exists."""
        if not store_has and name in self.defaults:
            raise ArgumentError(f"prompt '{name}' is a server default; copy it to change it")
