"""The import rules of docs/ARCHITECTURE.md, checked on the source itself."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
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
        ("agent", ("chatthy.server", "chatthy.client", "chatthy.conversation.engine", "zmq")),
        (
            "rag",
            (
                "chatthy.server",
                "chatthy.client",
                "chatthy.conversation.engine",
                "chatthy.agent",
                "zmq",
            ),
        ),
        (  # images: pure, below everything that checks, draws or sends them
            "media",
            (
                "chatthy.server",
                "chatthy.client",
                "chatthy.conversation",
                "chatthy.store",
                "chatthy.providers",
                "chatthy.agent",
                "zmq",
            ),
        ),
    ],
)
def test_layers_import_only_downwards(package: str, forbidden: tuple[str, ...]) -> None:
    assert offending(package, forbidden) == []


@pytest.mark.parametrize("module", ["model.py", "events.py"])
def test_the_shared_vocabulary_imports_nothing_of_chatthy(module: str) -> None:
    # but itself: an event may carry parts (a tool's result its images)
    chatthy = {n for n in imports_of(SRC / "conversation" / module) if n.startswith("chatthy")}
    assert chatthy <= {"chatthy.errors", "chatthy.conversation.model"} - {
        f"chatthy.conversation.{module.removesuffix('.py')}"
    }


def test_the_rules_see_every_file() -> None:
    assert len(files("conversation")) >= 8 and len(files("server")) >= 5


INDIRECT = {
    "lxml_html_clean": "trafilatura's justext imports lxml.html.clean, which lxml left to "
    "this distribution: a plain install without it failed `ws url` with ImportError",
}
"""Distributions the code needs that no file names in an import, and why."""


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions() -> set[str]:
    """Every distribution pyproject.toml names: dependencies and every extra."""
    project = tomllib.loads((SRC.parent.parent / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        wanted += extra
    return {_normal(re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0]) for spec in wanted}


def imported_distributions() -> dict[str, str]:
    """The distribution of every third-party module imported under src/ (lazily or
    not, ``find_spec`` probes too), with a file that imports it."""
    owners = importlib.metadata.packages_distributions()
    found: dict[str, str] = {}
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        probed = set(re.findall(r"find_spec\(\"([A-Za-z_]\w*)\"\)", text))
        for name in imports_of(path) | probed:
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top == "chatthy":
                continue
            for dist in owners.get(top, [top]):
                found.setdefault(_normal(dist), str(path.relative_to(SRC)))
    return found


def test_every_imported_distribution_is_declared() -> None:
    declared = declared_distributions()
    missing = {
        dist: where for dist, where in imported_distributions().items() if dist not in declared
    }
    assert missing == {}, "imported but not in pyproject.toml"
    assert {_normal(d) for d in INDIRECT} <= declared


def test_every_test_file_has_a_basename_of_its_own() -> None:
    """pytest imports test files by basename (rootdir-relative packages are not used):
    two of a name stop the whole run at collection."""
    names = [p.name for p in (SRC.parent.parent / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
