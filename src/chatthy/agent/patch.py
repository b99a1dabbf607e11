"""Apply a unified diff to one text, all of it or nothing: ``workspace_patch``'s engine.

Models write diffs by hand, so the reader is lenient where leniency cannot change the
result and strict where it could: the file names in ``---``/``+++`` headers are ignored
(the tool names the file), a hunk's line counts may be wrong or missing (``@@ ... @@``),
and a blank line inside a hunk is read as an empty context line; but every context and
removed line must match the text exactly. A hunk is looked for first at the line its
header names, then at the nearest place below the previous hunk where its old lines
stand, as GNU patch does with an offset. A hunk that matches nowhere refuses the whole
diff with :class:`PatchError`, saying which hunk and what the text holds there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["PatchError", "Patched", "apply_patch"]

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_BARE_HUNK = re.compile(r"^@@")


class PatchError(ValueError):
    """The diff cannot be read, or does not apply to the text (the reason is the message)."""


@dataclass
class _Hunk:
    header: str
    start: int | None
    """The old text's first line (1-based) as the header says; None when it says none."""
    old: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    old_ends_bare: bool = False
    """The hunk's last old line is the text's last and has no newline after it."""
    new_ends_bare: bool = False
    added: int = 0
    removed: int = 0


@dataclass(frozen=True)
class Patched:
    """The text after the diff, and what changed: hunks, lines added and removed."""

    text: str
    hunks: int
    added: int
    removed: int


def apply_patch(text: str, diff: str) -> Patched:
    """``text`` with ``diff`` applied.

    Raises:
        PatchError: the diff has no hunk, changes several files, or a hunk's context or
            removed lines are not in the text.
    """
    hunks = _parse(diff)
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.replace("\r\n", "\n").split("\n")
    ends_bare = not text.endswith("\n") and bool(text)
    if not ends_bare:
        lines.pop()  # the empty piece after the last newline (or of an empty text)
    out: list[str] = []
    at = 0
    for number, hunk in enumerate(hunks, 1):
        where = _locate(lines, at, hunk, number)
        out.extend(lines[at:where])
        out.extend(hunk.new)
        at = where + len(hunk.old)
        if at == len(lines) and (hunk.old_ends_bare or hunk.new_ends_bare):
            ends_bare = hunk.new_ends_bare
    out.extend(lines[at:])
    body = newline.join(out)
    if out and not ends_bare:
        body += newline
    return Patched(body, len(hunks), sum(h.added for h in hunks), sum(h.removed for h in hunks))


def _parse(diff: str) -> list[_Hunk]:
    hunks: list[_Hunk] = []
    targets: set[str] = set()
    hunk: _Hunk | None = None
    last = ""
    lines = diff.replace("\r\n", "\n").split("\n")
    while lines and not lines[-1]:
        lines.pop()
    for line in lines:
        if line.startswith("+++ ") and (hunk is None or _complete(hunk)):
            targets.add(_target(line[4:]))
            hunk = None
        elif line.startswith("--- ") and (hunk is None or _complete(hunk)):
            hunk = None
        elif _BARE_HUNK.match(line):
            hunk = _header(line)
            hunks.append(hunk)
        elif hunk is None or (not line and _counted(hunk) and _complete(hunk)):
            continue  # "diff --git", "index", prose around the diff, a blank between
        elif line.startswith("\\"):
            if last == "+":
                hunk.new_ends_bare = True
            elif last == "-":
                hunk.old_ends_bare = True
            elif last == " ":
                hunk.old_ends_bare = hunk.new_ends_bare = True
        else:
            last = _body_line(hunk, line)
    if len(targets) > 1:
        raise PatchError(
            f"the diff changes {len(targets)} files ({', '.join(sorted(targets))}); "
            "send one file's diff per call"
        )
    if not hunks:
        raise PatchError("the diff has no hunk (no line starting with '@@')")
    for number, each in enumerate(hunks, 1):
        if not each.old and not each.new:
            raise PatchError(f"hunk {number} ({each.header}) has no lines")
    return hunks


def _header(line: str) -> _Hunk:
    match = _HUNK.match(line)
    if match is None:
        return _Hunk(line.strip(), None)
    start = int(match.group(1))
    count = 1 if match.group(2) is None else int(match.group(2))
    # "-0,0": the hunk adds to an empty text; "-5,0": it inserts after line 5
    return _Hunk(match.group(0), start + 1 if count == 0 else start)


def _body_line(hunk: _Hunk, line: str) -> str:
    """Add one line of a hunk's body; returns its kind (`` ``, ``-``, ``+``)."""
    kind, rest = (line[:1], line[1:]) if line else (" ", "")
    if kind == " ":
        hunk.old.append(rest)
        hunk.new.append(rest)
    elif kind == "-":
        hunk.old.append(rest)
        hunk.removed += 1
    elif kind == "+":
        hunk.new.append(rest)
        hunk.added += 1
    else:
        raise PatchError(
            f"line {line[:60]!r} in hunk {hunk.header} starts with neither ' ', '-' nor '+'"
        )
    return kind


def _complete(hunk: _Hunk) -> bool:
    """Whether a line starting ``---``/``+++`` ends the hunk (a next file's header)
    rather than removing or adding a line that begins with ``--``/``++``: it does when
    the hunk already holds as many lines as its header says, or says nothing."""
    match = _HUNK.match(hunk.header)
    if match is None:
        return True
    old = 1 if match.group(2) is None else int(match.group(2))
    new = 1 if match.group(4) is None else int(match.group(4))
    return len(hunk.old) >= old and len(hunk.new) >= new


def _counted(hunk: _Hunk) -> bool:
    """Whether the hunk's header gives its line counts."""
    return _HUNK.match(hunk.header) is not None


def _target(name: str) -> str:
    name = name.split("\t")[0].strip()
    return name[2:] if name.startswith(("a/", "b/")) else name


def _locate(lines: list[str], after: int, hunk: _Hunk, number: int) -> int:
    """Where (0-based) ``hunk``'s old lines stand, at or below ``after``: at its
    header's line if they stand there, else the nearest place to it."""
    old, size = hunk.old, len(hunk.old)
    hint = max(after, (hunk.start or 1) - 1)
    if not old:
        if hunk.start is None:
            return len(lines)  # lines added with no place said: at the end
        if hint <= len(lines):
            return hint
        raise PatchError(
            f"hunk {number} ({hunk.header}) adds after line {hint} but the text has "
            f"{len(lines)} lines"
        )
    found = [i for i in range(after, len(lines) - size + 1) if lines[i : i + size] == old]
    if found:
        return min(found, key=lambda i: (abs(i - hint), i))
    above = [i for i in range(0, min(after, len(lines) - size + 1)) if lines[i : i + size] == old]
    why = (
        f"its lines are only at line {above[0] + 1}, before the end of the hunk before "
        "(hunks follow the text's order and do not overlap)"
        if above
        else _why(lines, hint, old)
    )
    raise PatchError(f"hunk {number} ({hunk.header}) does not apply: {why}")


def _why(lines: list[str], hint: int, old: list[str]) -> str:
    """What the text holds where the hunk expected its lines."""
    if hint >= len(lines):
        return f"the text has {len(lines)} lines and {old[0][:80]!r} is not among them"
    for offset, expected in enumerate(old):
        index = hint + offset
        if index >= len(lines):
            return f"the text ends at line {len(lines)}, the hunk expects {expected[:80]!r} there"
        if lines[index] != expected:
            return (
                f"line {index + 1} is {lines[index][:80]!r}, the hunk expects "
                f"{expected[:80]!r} (and its lines stand nowhere else)"
            )
    return "its lines stand nowhere"
