"""Installed plugins for tests: a module and its ``NAME-0.dist-info`` written into a folder
that goes on ``sys.path`` (or ``PYTHONPATH``), which is all importlib.metadata needs to
find a distribution's entry points."""

from __future__ import annotations

import textwrap
from pathlib import Path

__all__ = ["MINE", "write_mine", "write_plugin"]


def write_plugin(
    folder: Path,
    dist: str,
    entry_points: dict[str, dict[str, str]],
    modules: dict[str, str] | None = None,
) -> Path:
    """Install the distribution ``dist`` into ``folder``: each module (file name → source,
    dedented) and a dist-info whose ``entry_points.txt`` declares ``entry_points``
    (group → name → ``module:attr``). Returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for filename, source in (modules or {}).items():
        (folder / filename).write_text(textwrap.dedent(source), encoding="utf-8")
    info = folder / f"{dist.replace('-', '_')}-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0\n", encoding="utf-8"
    )
    lines = []
    for group, entries in entry_points.items():
        lines.append(f"[{group}]")
        lines.extend(f"{name} = {target}" for name, target in entries.items())
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines), encoding="utf-8")
    return folder


MINE = '''
"""A chatthy plugin, as a third party writes one: a provider scheme and a source."""

from chatthy.config import ProviderConfig
from chatthy.providers.base import Provider, TextDelta, Usage
from chatthy.workspace.sources import DEFAULT_COUNT, Document, Fetcher, Source


class HeardProvider(Provider):
    """Replies "plugin heard: <the last user text>", in two pieces, offline."""

    def __init__(self, name: str, cfg: ProviderConfig) -> None:
        self.name = name
        self.model = cfg.model or "heard"
        self.context_length = cfg.context_length
        self.max_tokens = cfg.max_tokens

    async def stream(self, messages, options):
        heard = [m.text for m in messages if m.role == "user"][-1]
        yield TextDelta("plugin heard: ")
        yield TextDelta(heard)
        yield Usage(1, 2)


class Shelf(Source):
    """A book from the plugin's shelf: made up, fetched from nowhere."""

    name = "shelf"
    help = "add a book from the plugin's shelf"
    argument = "title"
    metavar = "TITLE"

    async def fetch(self, fetcher: Fetcher, argument: str, *, count: int = DEFAULT_COUNT):
        text = f"{argument}, as the shelf plugin tells it.\\n"
        return Document(f"shelf-{argument}", text, f"shelf:{argument}")
'''
"""The module ``mine_plugin``: a provider scheme that answers what it heard, and a source
that makes its document up."""


def write_mine(folder: Path) -> Path:
    """Install ``mine-plugin`` into ``folder``: scheme ``myscheme`` and source ``shelf``
    that work, and scheme ``ghost`` and source ``phantom`` whose module is missing."""
    return write_plugin(
        folder,
        "mine-plugin",
        {
            "chatthy.providers": {
                "myscheme": "mine_plugin:HeardProvider",
                "ghost": "mine_missing:Provider",
            },
            "chatthy.sources": {"shelf": "mine_plugin:Shelf", "phantom": "mine_missing:Source"},
        },
        {"mine_plugin.py": MINE},
    )
