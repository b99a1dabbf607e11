"""Instruction templates: standard requests (summarise, extract, explain, critique,
translate) and the user's own, run on a document.

A template is a Markdown file ``NAME.md``: an optional front matter between two ``---``
lines holding ``description: …`` (shown in lists; else the first line of the body), a
default for any placeholder (``style: paragraph``) and ``#`` comment lines, then the
instruction with named ``{placeholders}`` (``str.format`` style, ``{{`` and ``}}`` for
literal braces). ``{text}`` is the document the template runs on. The built-in templates
ship in ``builtin_templates/``; a ``templates/NAME.md`` in the server's config dir adds a
template or replaces the built-in one of that name. Both are read on every use, so an
edited file counts at once.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from chatthy.errors import ArgumentError, ConfigError, NotFoundError

__all__ = ["DOCUMENT", "Template", "Templates", "parse_template"]


DOCUMENT = "text"
"""The placeholder the document goes into."""

_FENCE = "---"
_DESCRIPTION = "description"
_DESCRIPTION_WIDTH = 100


@dataclass(frozen=True, slots=True)
class Template:
    """One template, parsed: its placeholders in order of first use, their defaults."""

    name: str
    description: str
    body: str
    placeholders: tuple[str, ...]
    defaults: dict[str, str] = field(default_factory=dict)
    origin: str = "builtin"
    """``builtin``, or the path of the server's file."""

    def render(self, args: Mapping[str, str], text: str) -> str:
        """The instruction with ``args`` (over the defaults) and ``text`` as the document.

        Raises:
            ArgumentError: an argument is not one of the placeholders, sets ``text``, or
                a placeholder has neither an argument nor a default (naming them all).
        """
        if DOCUMENT in args:
            raise ArgumentError(
                f"'{DOCUMENT}' is the document template '{self.name}' runs on (a workspace "
                "file or the chat), not an argument"
            )
        unknown = sorted(set(args) - set(self.placeholders))
        if unknown:
            raise ArgumentError(
                f"template '{self.name}' has no placeholder {_names(unknown)}; {self._usage()}"
            )
        values = {**self.defaults, **args, DOCUMENT: text}
        missing = [p for p in self.placeholders if p not in values]
        if missing:
            raise ArgumentError(
                f"template '{self.name}' needs {_names(missing)} "
                f"(give {missing[0]}=…); {self._usage()}"
            )
        return self.body.format_map(values)

    def _usage(self) -> str:
        shown = [
            f"{p}={self.defaults[p]!r}" if p in self.defaults else p
            for p in self.placeholders
            if p != DOCUMENT
        ]
        return f"its placeholders: {', '.join(shown) or 'none but the document'}"

    def describe(self) -> dict[str, Any]:
        """The template as clients list it."""
        return {
            "name": self.name,
            "description": self.description,
            "placeholders": [p for p in self.placeholders if p != DOCUMENT],
            "defaults": dict(self.defaults),
            "origin": self.origin,
        }


def _names(names: Iterable[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _placeholders(body: str) -> tuple[str, ...]:
    """The named fields of ``body`` in order of first use.

    Raises:
        ValueError: a brace is unmatched, or a field is not a plain name.
    """
    found: list[str] = []
    try:
        fields = list(string.Formatter().parse(body))
    except ValueError as exc:
        raise ValueError(f"{exc} (write {{{{ }}}} for literal braces)") from None
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ValueError(
                f"placeholder {{{shown}}} is not a plain name (write {{{{ }}}} for braces)"
            )
        if name not in found:
            found.append(name)
    return tuple(found)


def _front_matter(source: str) -> tuple[dict[str, str], str]:
    """The ``key: value`` lines between the opening ``---`` lines, and the body after.

    Raises:
        ValueError: the front matter is not closed, or a line is not ``key: value``.
    """
    lines = source.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != _FENCE:
        return {}, source
    try:
        end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == _FENCE)
    except StopIteration:
        raise ValueError("front matter opened with --- is never closed") from None
    fields: dict[str, str] = {}
    for line in lines[1:end]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, colon, value = line.partition(":")
        if not colon or not key.strip().isidentifier():
            raise ValueError(f"front matter line {line.strip()!r} is not 'name: value'")
        fields[key.strip()] = value.strip()
    return fields, "\n".join(lines[end + 1 :])


def parse_template(name: str, source: str, origin: str = "builtin") -> Template:
    """A template from its file's text.

    Raises:
        ValueError: the front matter or a placeholder is malformed, or it sets a default
            for a placeholder the body does not have.
    """
    fields, body = _front_matter(source)
    body = body.strip()
    placeholders = _placeholders(body)
    description = fields.pop(_DESCRIPTION, "") or _first_line(body)
    stray = sorted(set(fields) - set(placeholders))
    if stray:
        raise ValueError(f"front matter sets {_names(stray)}, which the body does not use")
    if DOCUMENT in fields:
        raise ValueError(f"'{DOCUMENT}' is the document and cannot have a default")
    return Template(name, description, body, placeholders, fields, origin)


def _first_line(body: str) -> str:
    line = next((line for line in body.splitlines() if line.strip()), "")
    line = line.strip().lstrip("#").strip()
    if len(line) > _DESCRIPTION_WIDTH:
        line = line[: _DESCRIPTION_WIDTH - 1].rstrip() + "…"
    return line


class Templates:
    """The templates a server offers: built-ins, then its config dir's over them. A file
    that cannot be used is kept as a problem, so that asking for it says why (and it
    still hides a built-in of that name: the user meant to replace it)."""

    def __init__(self, templates: dict[str, Template], problems: dict[str, str]) -> None:
        self.templates = templates
        self.problems = problems

    @classmethod
    def load(cls, config_dir: Path) -> Templates:
        """The built-in templates, then ``config_dir/templates/*.md`` over them."""
        found = cls({}, {})
        builtin = resources.files("chatthy.workspace").joinpath("builtin_templates")
        for item in sorted(builtin.iterdir(), key=lambda entry: entry.name):
            if item.name.endswith(".md"):
                found._add(item.name.removesuffix(".md"), item.read_text("utf-8"), "builtin")
        folder = config_dir / "templates"
        if folder.is_dir():
            for path in sorted(folder.glob("*.md")):
                found._add_file(path)
        return found

    def _add_file(self, path: Path) -> None:
        # Named from the config dir, not by absolute path: every profile may list them.
        label = f"templates/{path.name}"
        try:
            source = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            self._problem(path.stem, f"{label} is not UTF-8 text (byte {exc.start})")
        except OSError as exc:
            self._problem(path.stem, f"{label} cannot be read: {exc.strerror or exc}")
        else:
            self._add(path.stem, source, label)

    def _add(self, name: str, source: str, origin: str) -> None:
        try:
            template = parse_template(name, source, origin)
        except ValueError as exc:
            self._problem(name, f"{origin}: {exc}")
            return
        self.problems.pop(name, None)
        self.templates[name] = template

    def _problem(self, name: str, why: str) -> None:
        self.templates.pop(name, None)
        self.problems[name] = why

    def names(self) -> list[str]:
        return sorted({*self.templates, *self.problems})

    def get(self, name: str) -> Template:
        """Raises:
        NotFoundError: no template has that name (listing those there are).
        ConfigError: the server's file of that name cannot be used (saying why).
        """
        if name in self.problems:
            raise ConfigError(f"template '{name}' cannot be used: {self.problems[name]}")
        try:
            return self.templates[name]
        except KeyError:
            raise NotFoundError(
                f"no template '{name}' (templates: {', '.join(self.names())})"
            ) from None

    def describe(self) -> list[dict[str, Any]]:
        """Every template as clients list it, by name; one that cannot be used has an
        ``error`` instead of placeholders."""
        listed = [t.describe() for t in self.templates.values()]
        listed += [
            {
                "name": name,
                "description": "",
                "placeholders": [],
                "defaults": {},
                "origin": "",
                "error": why,
            }
            for name, why in self.problems.items()
        ]
        return sorted(listed, key=lambda entry: entry["name"])
