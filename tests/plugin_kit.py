"""Installed plugins for tests: a module and its ``NAME-0.dist-info`` written into a folder
that goes on ``sys.path`` (or ``PYTHONPATH``), which is all importlib.metadata needs to
find a distribution's entry points."""

from __future__ import annotations

import textwrap
from pathlib import Path

__all__ = ["write_plugin"]


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
