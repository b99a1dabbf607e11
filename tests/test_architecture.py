"""The import rules of docs/ARCHITECTURE.md, checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "chatthy"


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def files(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


def offending(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(SRC)} imports {name}"
        for path in files(package)
        for name in sorted(imports_of(path))
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("conversation", ("chatthy.server", "chatthy.client", "zmq")),
        ("client", ("chatthy.server", "chatthy.conversation.engine", "chatthy.store")),
        ("wire", ("chatthy.server", "chatthy.client", "chatthy.conversation.engine")),
        ("store", ("chatthy.server", "chatthy.client", "chatthy.conversation.engine", "zmq")),
        ("providers", ("chatthy.server", "chatthy.client", "chatthy.store", "zmq")),
        ("context", ("chatthy.server", "chatthy.client", "chatthy.store", "zmq")),
    ],
)
def test_layers_import_only_downwards(package: str, forbidden: tuple[str, ...]) -> None:
    assert offending(package, forbidden) == []


@pytest.mark.parametrize("module", ["model.py", "events.py"])
def test_the_shared_vocabulary_imports_nothing_of_chatthy(module: str) -> None:
    chatthy = {n for n in imports_of(SRC / "conversation" / module) if n.startswith("chatthy")}
    assert chatthy <= {"chatthy.errors"}


def test_the_rules_see_every_file() -> None:
    assert len(files("conversation")) >= 8 and len(files("server")) >= 5
