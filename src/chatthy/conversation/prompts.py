"""Personalities: a profile's own prompts over the server's defaults.

Server defaults are the built-in ``default`` plus every ``prompts/NAME.md`` in the config
dir; they are read-only to profiles, which shadow them by saving a prompt of the same name.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import msgspec

from chatthy.errors import ArgumentError, NotFoundError
from chatthy.store.base import Store

__all__ = ["BUILTIN_PROMPT", "PromptInfo", "ServerPrompts"]

log = logging.getLogger("chatthy.server")

BUILTIN_PROMPT = "You are a helpful assistant. Answer clearly and concisely."


class PromptInfo(msgspec.Struct):
    """A prompt as clients see it; ``source`` is ``profile`` or ``server``."""

    name: str
    text: str
    source: str
    updated: float = 0.0


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
        self.configured = {"default": BUILTIN_PROMPT, **(configured or {})}
        self._seen = _state_of(folder) if folder is not None else None

    @classmethod
    def load(cls, config_dir: Path, configured: dict[str, str] | None = None) -> ServerPrompts:
        """The built-in prompt, ``[prompts]`` of server.toml, then ``prompts/*.md`` (a file
        wins over a table entry of the same name); a file that cannot be read as UTF-8
        text is left out with a warning, so that one bad file does not stop the server."""
        folder = config_dir / "prompts"
        made = cls({}, folder, configured)
        made._defaults = made._read()
        return made

    @property
    def defaults(self) -> dict[str, str]:
        """The server's prompts by name, as the folder holds them now."""
        if self.folder is not None:
            state = _state_of(self.folder)
            if state != self._seen:
                self._seen = state
                self._defaults = self._read()
        return self._defaults

    def _read(self) -> dict[str, str]:
        prompts = dict(self.configured)
        if self.folder is not None and self.folder.is_dir():
            for path in sorted(self.folder.glob("*.md")):
                if (text := _read_prompt(path)) is not None:
                    prompts[path.stem] = text
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
