"""The full-screen client's keys: each action's default, and client.toml's ``[keys]`` read
into a Textual keymap.

An action is known by a short name (``chats``, ``cancel`` …) that client.toml uses; its
binding carries that name as its id, so :meth:`textual.app.App.set_keymap` rebinds it.
What cannot be used — an unknown action, a key Textual would never send, a key another
action already has — is one warning each, and that action keeps its default.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from textual.binding import Binding
from textual.keys import KEY_NAME_REPLACEMENTS, KEY_TO_UNICODE_NAME, Keys

__all__ = ["ACTIONS", "Action", "binding_id", "bindings", "input_hint", "key_label", "read_keys"]

_PREFIX = "chatthy."


def binding_id(name: str) -> str:
    """The id of action ``name``'s binding (what a Textual keymap names)."""
    return _PREFIX + name


@dataclass(frozen=True)
class Action:
    """One action a key runs: its default key(s), the app's action, what it does."""

    key: str
    action: str
    description: str
    priority: bool = False

    def binding(self, name: str) -> Binding:
        return Binding(
            self.key, self.action, self.description, priority=self.priority, id=binding_id(name)
        )


ACTIONS: dict[str, Action] = {
    "help": Action("f1", "help", "Help"),
    "quit": Action("ctrl+q", "quit", "Quit", priority=True),
    "cancel": Action("ctrl+c", "cancel", "Cancel reply", priority=True),
    "reload": Action("ctrl+l", "reload", "Refresh"),
    "focus": Action("shift+tab", "toggle_focus", "Output/Input", priority=True),
    "multiline": Action("alt+m", "toggle_multiline", "Multi-line", priority=True),
    "chats": Action("ctrl+o", "chats", "Chats", priority=True),
    "models": Action("ctrl+p", "models", "Providers and models", priority=True),
    "rag_search": Action("ctrl+v", "rag_search", "Search documents", priority=True),
}
"""Every action client.toml's ``[keys]`` can rebind, by the name it uses there."""

_MODIFIERS = {"ctrl", "alt", "shift", "super", "meta", "hyper"}
_NAMED = (
    {k.value.rpartition("+")[2] for k in Keys if not k.value.startswith("<")}
    | set(KEY_TO_UNICODE_NAME)
    | set(KEY_NAME_REPLACEMENTS.values())
) - {"ctrl-at"}


def bindings() -> list[Binding]:
    """The app's bindings, each with its action's name as id."""
    return [action.binding(name) for name, action in ACTIONS.items()]


def _readable(key: str) -> bool:
    """Whether Textual can send ``key``: modifiers, then one character or a key name."""
    *modifiers, base = key.split("+")
    if not base or any(m not in _MODIFIERS for m in modifiers):
        return False
    if len(base) == 1:
        return base.isprintable() and not base.isspace()
    if base in _NAMED:
        return True
    try:
        return len(unicodedata.lookup(base.replace("_", " ").upper())) == 1
    except KeyError:
        return False


def _keys_of(value: object) -> list[str] | None:
    """The keys a client.toml value names (None when it is neither a string nor a list
    of strings); modifiers and key names in lower case, a single character as it is."""
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = list(value)
    else:
        return None
    keys = []
    for item in items:
        *modifiers, base = item.strip().split("+")
        keys.append(
            "+".join([*(m.lower() for m in modifiers), base if len(base) == 1 else base.lower()])
        )
    return keys


def _problem(keys: list[str] | None) -> str:
    if keys is None:
        return "not a key name"
    if not any(keys):
        return "no key"
    unreadable = next((k for k in keys if not _readable(k)), None)
    return f"cannot read key '{unreadable}'" if unreadable is not None else ""


def read_keys(config: Mapping[str, object]) -> tuple[dict[str, str], list[str]]:
    """client.toml's ``[keys]`` as a Textual keymap (binding id → keys), and a warning
    for each entry that cannot be used (that action keeps its default). Two actions may
    swap keys; an entry that takes a key another action keeps is refused."""
    warnings: list[str] = []
    wanted: dict[str, list[str]] = {}
    for name, value in config.items():
        action = ACTIONS.get(name)
        if action is None:
            known = ", ".join(ACTIONS)
            warnings.append(f"client.toml [keys]: unknown action '{name}' (known: {known})")
            continue
        keys = _keys_of(value)
        problem = _problem(keys)
        if problem:
            warnings.append(f"client.toml [keys] {name}: {problem}; keeping {action.key}")
        elif keys is not None:
            wanted[name] = keys
    while clash := _clash(wanted):
        key, owners = clash
        culprit = next(n for n in reversed(wanted) if n in owners)
        other = next(n for n in owners if n != culprit)
        default = ACTIONS[culprit].key
        warnings.append(
            f"client.toml [keys] {culprit}: '{key}' is {other}'s key; keeping {default}"
        )
        del wanted[culprit]
    return {binding_id(name): ",".join(keys) for name, keys in wanted.items()}, warnings


def _clash(wanted: dict[str, list[str]]) -> tuple[str, list[str]] | None:
    """A key two actions would have, and those actions."""
    owners: dict[str, list[str]] = {}
    for name, action in ACTIONS.items():
        for key in wanted.get(name, action.key.split(",")):
            owners.setdefault(key, []).append(name)
    return next(((k, names) for k, names in owners.items() if len(names) > 1), None)


def key_label(keys: str) -> str:
    """Keys as the help shows them: ``ctrl+o`` → ``Ctrl-o``, ``shift+tab`` → ``Shift-Tab``."""
    labels = []
    for key in keys.split(","):
        *modifiers, base = key.strip().split("+")
        base = base.capitalize() if len(base) > 1 else base
        labels.append("-".join([*(m.capitalize() for m in modifiers), base]))
    return " / ".join(labels)


def input_hint(keys: Mapping[str, str]) -> str:
    """The empty input's hint, naming the keys in use (each action's first)."""

    def first(name: str) -> str:
        return key_label(keys.get(name, ACTIONS[name].key).split(",")[0])

    return (
        f"Message or /command · {first('help')} help · {first('multiline')} multi-line · "
        f"{first('cancel')} cancel · {first('quit')} quit"
    )
