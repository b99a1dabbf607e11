"""User-defined tools: Python functions a server loads from ``tools/*.py`` in its config
dir and from the entry point group ``chatthy.tools``.

A function with type hints and a docstring becomes a tool (:meth:`Tool.from_function`:
the schema from its signature, the description from its docstring). In a module, the
tools are its public functions marked with :func:`tool`; a module that marks none gives
its ``TOOLS`` list instead. An entry point names a function (the tool is called as the
entry point is, unless ``@tool(name=…)`` says otherwise) or a module (read as a file
is). A plugin's tool **changes** something, so each call is approved first, unless marked
``@tool(changes=False)``; it may run at most ``[tools] timeout`` seconds, or less if it
asks (``@tool(timeout=5)``).

What cannot load — a file or module that fails to import, a function that cannot become a
tool, a module with no tools — is logged once as a warning and kept in
:attr:`ToolRegistry.problems` with its reason; everything else still loads. Files whose
name starts with ``_`` are helpers the others import (``from ._shared import x``: the
folder is the package ``chatthy_tools``), not plugins. Loading runs the
plugins' code, so it happens when a server makes its registry, never at import.

A synchronous plugin runs in a daemon thread of its own, not in the event loop's shared
executor: one that hangs past its timeout is abandoned without taking a worker from the
rest of the server, and does not hold the server up when it stops. At most
:data:`MAX_ABANDONED` such threads may still be running; past that, plugin calls are
refused until some end.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import inspect
import logging
import sys
import threading
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, TypeVar, overload

from chatthy.agent.tools import Tool, ToolContext, ToolError, ToolRegistry

__all__ = ["GROUP", "MAX_ABANDONED", "PACKAGE", "ToolOptions", "load_plugins", "tool"]

log = logging.getLogger("chatthy.agent")

GROUP = "chatthy.tools"
"""The entry point group of tool plugins."""

PACKAGE = "chatthy_tools"
"""The package the config dir's ``tools/*.py`` are imported into (``chatthy_tools.NAME``)."""

MAX_ABANDONED = 16
"""Plugin threads still running after their call timed out, at most."""

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__chatthy_tool__"


@dataclass(frozen=True)
class ToolOptions:
    """What ``@tool(…)`` said about a function."""

    name: str | None = None
    description: str | None = None
    changes: bool = True
    timeout: float | None = None


@overload
def tool(function: F, /) -> F: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    changes: bool = True,
    timeout: float | None = None,
) -> Callable[[F], F]: ...


def tool(
    function: F | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    changes: bool = True,
    timeout: float | None = None,
) -> F | Callable[[F], F]:
    """Mark a plugin's function as a tool: ``@tool``, or ``@tool(changes=False,
    timeout=5, name="…", description="…")``. ``changes=False`` says it only reads (its
    calls run without asking); ``timeout`` asks for fewer seconds than ``[tools]
    timeout``. The function is returned as it is, still callable as before."""
    options = ToolOptions(name, description, changes, timeout)

    def mark(target: F) -> F:
        setattr(target, _MARK, options)
        return target

    return mark(function) if function is not None else mark


def load_plugins(registry: ToolRegistry, config_dir: str, timeout: float) -> None:
    """Add the entry points' tools, then those of ``config_dir``'s ``tools/*.py`` (the
    user's own files last: a tool of theirs replaces one of the same name); what cannot
    load goes to ``registry.problems``. ``timeout``: ``[tools] timeout``."""
    for entry in entry_points(group=GROUP):
        _add(registry, f"entry point {entry.name} = {entry.value}", timeout, _entry, entry)
    folder = Path(config_dir) / "tools" if config_dir else None
    if folder is None or not folder.is_dir():
        return
    _package(folder)
    for path in sorted(folder.glob("*.py")):
        if not path.name.startswith("_"):
            _add(registry, f"tools/{path.name}", timeout, _file, path)


def _add(
    registry: ToolRegistry,
    origin: str,
    timeout: float,
    load: Callable[[Any, str], Iterable[tuple[Callable[..., Any], str | None]]],
    source: Any,
) -> None:
    """Load one plugin's functions and add each as a tool; problems are reported."""
    try:
        functions = list(load(source, origin))
    except (Exception, SystemExit) as exc:  # a plugin's sys.exit() stops only the plugin
        _problem(registry, f"tool plugin {origin} cannot be loaded: {_reason(exc)}")
        return
    if not functions:
        _problem(
            registry,
            f"tool plugin {origin} has no tools (no function marked @tool, no TOOLS list)",
        )
    for function, default_name in functions:
        try:
            made = _tool_of(function, default_name, origin, timeout)
        except (TypeError, ValueError) as exc:
            label = getattr(function, "__name__", repr(function))
            _problem(registry, f"tool plugin {origin}: '{label}' cannot be a tool: {exc}")
            continue
        if made.name in registry:
            log.info("tool %s of %s replaces the one loaded before", made.name, origin)
        registry.add(made)


def _problem(registry: ToolRegistry, text: str) -> None:
    log.warning("%s", text)
    registry.problems.append(text)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _entry(entry: EntryPoint, origin: str) -> list[tuple[Callable[..., Any], str | None]]:
    loaded = entry.load()
    if isinstance(loaded, types.ModuleType):
        return _of_module(loaded)
    if callable(loaded):
        return [(loaded, entry.name)]
    raise TypeError(f"it names a {type(loaded).__name__}, not a function or a module")


def _package(folder: Path) -> None:
    """Make ``tools/`` the package :data:`PACKAGE` (made once, pointed at this folder),
    so that a plugin imports its helpers as ``from ._shared import x``."""
    package = sys.modules.get(PACKAGE)
    if package is None:
        package = types.ModuleType(PACKAGE, "The tool plugins of the server's config dir.")
        sys.modules[PACKAGE] = package
    if getattr(package, "__path__", None) != [str(folder)]:
        for name in [n for n in sys.modules if n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]  # helpers of another folder
    package.__path__ = [str(folder)]
    package.__package__ = PACKAGE


def _file(path: Path, origin: str) -> list[tuple[Callable[..., Any], str | None]]:
    """Import ``path`` as the module ``chatthy_tools.<stem>`` and read its tools."""
    module_name = f"{PACKAGE}.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # what the module defines may look itself up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return _of_module(module)


def _of_module(module: types.ModuleType) -> list[tuple[Callable[..., Any], str | None]]:
    """The module's public functions marked @tool, else its TOOLS list."""
    marked = [
        value
        for key, value in vars(module).items()
        if not key.startswith("_") and callable(value) and hasattr(value, _MARK)
    ]
    if marked:
        return [(function, None) for function in marked]
    listed = getattr(module, "TOOLS", None)
    if listed is None:
        return []
    if not isinstance(listed, list | tuple):
        raise TypeError(f"TOOLS is a {type(listed).__name__}, not a list of functions")
    return [(function, None) for function in listed]


def _tool_of(
    function: Callable[..., Any], default_name: str | None, origin: str, timeout: float
) -> Tool:
    """A plugin function (or a ready :class:`Tool`) as a tool of this server."""
    if isinstance(function, Tool):
        made = function
        made.origin = origin
        made.timeout = min(made.timeout, timeout)
    else:
        made = _from_function(function, default_name, origin, timeout)
    if made.thread:
        made.run = _in_own_thread(made.run, made.name)
        made.thread = False
    return made


def _from_function(
    function: Callable[..., Any], default_name: str | None, origin: str, timeout: float
) -> Tool:
    if not inspect.isfunction(function) and not inspect.ismethod(function):
        raise TypeError(f"{type(function).__name__} is not a function")
    options: ToolOptions = getattr(function, _MARK, ToolOptions())
    if options.timeout is not None and options.timeout <= 0:
        raise ValueError(f"timeout must be more than 0 seconds, not {options.timeout}")
    return Tool.from_function(
        function,
        name=options.name or default_name,
        description=options.description,
        changes=options.changes,
        timeout=min(options.timeout or timeout, timeout),
        origin=origin,
    )


_abandoned = 0
_abandoned_lock = threading.Lock()


def _in_own_thread(
    run: Callable[[ToolContext, dict[str, Any]], Any], name: str
) -> Callable[[ToolContext, dict[str, Any]], Any]:
    """``run`` in a daemon thread of its own per call (see the module's docstring)."""

    async def threaded(context: ToolContext, arguments: dict[str, Any]) -> Any:
        global _abandoned
        if _abandoned >= MAX_ABANDONED:
            raise ToolError(
                f"{_abandoned} plugin calls that ran past their time are still running; "
                f"{name} is not run until some end"
            )
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        state = {"finished": False, "abandoned": False}

        def settle(result: Any, error: BaseException | None) -> None:
            if done.done():
                return
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(result)

        def work() -> None:
            global _abandoned
            result: Any = None
            error: BaseException | None = None
            try:
                result = run(context, arguments)
            except BaseException as exc:  # the tool's failure is its result
                error = exc
            with _abandoned_lock:
                state["finished"] = True
                if state["abandoned"]:
                    _abandoned -= 1
                    return
            with contextlib.suppress(RuntimeError):  # the event loop closed meanwhile
                loop.call_soon_threadsafe(settle, result, error)

        threading.Thread(target=work, name=f"tool {name}", daemon=True).start()
        try:
            return await done
        except asyncio.CancelledError:
            with _abandoned_lock:
                if not state["finished"]:
                    state["abandoned"] = True
                    _abandoned += 1
            raise

    return threaded
