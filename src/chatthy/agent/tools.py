"""Tools a model may call: what one is, how a Python function becomes one, the registry.

A :class:`Tool` is its :class:`~chatthy.conversation.model.ToolSpec` (name, description,
JSON schema of its arguments), a function that runs it, and whether it **changes**
something or reaches out (then the user approves each call unless told otherwise).
:meth:`Tool.from_function` makes one from a plain function with type hints and a
docstring: the schema comes from the signature (through pydantic, which also checks the
arguments a model sends), the description from the docstring. A function whose first
parameter is annotated :class:`ToolContext` is handed the calling profile's context —
tools act only on that profile's data.

Running a call (:meth:`Tool.call`) never raises for anything the call did: arguments
that are not JSON or do not fit the schema, a function that raises, one that takes too
long — each comes back as an error result the model reads and can act on. A result longer
than the cap is cut, saying so. A tool that has pictures to show returns a
:class:`ToolOutcome` with ``images`` (``data:`` URL image parts); the loop checks and fits
them to the model before it is sent them.
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import inspect
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_type_hints

import msgspec
import pydantic

from chatthy.conversation.model import ImagePart, ToolSpec
from chatthy.errors import ChatthyError, ToolError
from chatthy.media.images import inspect as inspect_image
from chatthy.media.images import to_data_url

__all__ = [
    "MAX_RESULT",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolOutcome",
    "ToolRegistry",
    "cap",
    "picture",
]

log = logging.getLogger("chatthy.agent")

MAX_RESULT = 100_000
"""Characters of a tool's result the model is given at most (``[tools] max_result``)."""

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""What both APIs accept as a tool's name."""


@dataclass
class ToolContext:
    """What a running tool may use: the calling profile and chat, and the services the
    server lends (the store, the web fetcher, …) by name. A tool reaches only
    ``profile``'s data through them."""

    profile: str
    chat: str = ""
    services: dict[str, Any] = field(default_factory=dict)

    def service(self, name: str) -> Any:
        """The service ``name`` (``store``, ``fetcher``, …).

        Raises:
            ToolError: this server offers no such service to tools.
        """
        found = self.services.get(name)
        if found is None:
            raise ToolError(f"this server offers tools no {name}")
        return found


class ToolOutcome(msgspec.Struct, frozen=True):
    """What one call gave: the text the model reads, whether it is an error, and the
    images it returned (``data:`` URL parts; a tool may return a ToolOutcome itself)."""

    content: str
    is_error: bool = False
    images: tuple[ImagePart, ...] = ()


def picture(data: bytes, name: str = "") -> ImagePart:
    """An image for a :class:`ToolOutcome`'s ``images``: ``data``, the bytes of a PNG,
    JPEG, GIF or WebP file, and its ``name`` (the clients show it).

    Raises:
        ArgumentError: not an image of those types (the call's error result).
    """
    info = inspect_image(data, name or "the image")
    return ImagePart(info.media_type, to_data_url(data, info.media_type), name)


def is_pattern(name: str) -> bool:
    """Whether a name in ``[tools] enabled`` or an agent's ``tools`` is a pattern."""
    return any(c in name for c in "*?[")


def named(tool: str, names: list[str]) -> bool:
    """Whether ``tool`` is one of ``names`` or matches one of its patterns."""
    return any(fnmatch.fnmatchcase(tool, name) for name in names)


def cap(text: str, limit: int = MAX_RESULT) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[result cut: {len(text):,} characters, the first {limit:,} kept]"


@dataclass
class Tool:
    """One tool. ``run(context, arguments)`` does the work (sync or async); ``changes``:
    it changes something or reaches out, so each call is approved first; ``timeout``:
    seconds one call may take."""

    spec: ToolSpec
    run: Callable[[ToolContext, dict[str, Any]], Any]
    changes: bool = False
    timeout: float = 30.0
    origin: str = "built-in"
    """Where it comes from: ``built-in``, a plugin's file or entry point, an MCP server."""
    validate: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    """Checks (and converts) the arguments; raises ValueError saying what does not fit."""
    thread: bool = True
    """Run a synchronous ``run`` in a worker thread (so that it stalls no one)."""

    @property
    def name(self) -> str:
        return self.spec.name

    @classmethod
    def from_function(
        cls,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        changes: bool = False,
        timeout: float = 30.0,
        origin: str = "built-in",
    ) -> Tool:
        """A tool from a function with type hints and a docstring: its parameters (but a
        first one annotated :class:`ToolContext`) are the arguments, its docstring's
        first paragraph the description (the rest, too, up to an ``Args:`` section).

        Raises:
            TypeError: the function cannot be a tool (no type hints a schema can be made
                from, a name the APIs refuse).
        """
        tool_name = name or function.__name__
        if not NAME.match(tool_name):
            raise TypeError(f"'{tool_name}' is not a tool name (letters, digits, _ and -)")
        signature = inspect.signature(function)
        try:
            hints = get_type_hints(function)
        except Exception as exc:
            raise TypeError(f"the type hints of {tool_name} cannot be read: {exc}") from exc
        params = list(signature.parameters.values())
        wants_context = bool(params) and hints.get(params[0].name) is ToolContext
        if wants_context:
            params = params[1:]
        fields: dict[str, Any] = {}
        for param in params:
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise TypeError(f"{tool_name}: *args and **kwargs cannot be tool arguments")
            if param.name not in hints:
                raise TypeError(f"{tool_name}: argument '{param.name}' has no type hint")
            default = ... if param.default is param.empty else param.default
            fields[param.name] = (hints[param.name], default)
        try:
            model = pydantic.create_model(
                f"{tool_name}_arguments",
                __config__=pydantic.ConfigDict(extra="forbid"),
                **fields,
            )
            schema = model.model_json_schema()
        except Exception as exc:
            raise TypeError(f"{tool_name}: no JSON schema for its arguments: {exc}") from exc
        schema.pop("title", None)
        told = _argument_help(function)
        for key, prop in schema.get("properties", {}).items():
            prop.pop("title", None)
            if key in told:
                prop.setdefault("description", told[key])
        text = description if description is not None else _described(function)

        def validate(arguments: dict[str, Any]) -> dict[str, Any]:
            try:
                checked = model.model_validate(arguments)
            except pydantic.ValidationError as exc:
                raise ValueError(_problems(exc)) from None
            return {key: getattr(checked, key) for key in fields}

        if wants_context:
            call = function
        else:

            @functools.wraps(function)
            def call(context: ToolContext, /, **arguments: Any) -> Any:
                return function(**arguments)

        def run(context: ToolContext, arguments: dict[str, Any]) -> Any:
            return call(context, **arguments)

        is_async = inspect.iscoroutinefunction(function)

        async def run_async(context: ToolContext, arguments: dict[str, Any]) -> Any:
            return await call(context, **arguments)

        return cls(
            ToolSpec(tool_name, text, schema),
            run_async if is_async else run,
            changes=changes,
            timeout=timeout,
            origin=origin,
            validate=validate,
            thread=not is_async,
        )

    async def call(
        self, context: ToolContext, arguments: str, limit: int = MAX_RESULT
    ) -> ToolOutcome:
        """Run one call with ``arguments`` (a JSON object's text, as the model sent it);
        whatever happens is an outcome, never an exception (but cancellation)."""
        try:
            decoded = msgspec.json.decode(arguments or "{}")
        except msgspec.DecodeError as exc:
            return ToolOutcome(
                f"the arguments are not valid JSON ({exc}); send a JSON object", True
            )
        if not isinstance(decoded, dict):
            return ToolOutcome("the arguments must be a JSON object", True)
        if self.validate is not None:
            try:
                decoded = self.validate(decoded)
            except ValueError as exc:
                return ToolOutcome(f"the arguments do not fit {self.name}'s schema: {exc}", True)
        try:
            async with asyncio.timeout(self.timeout):
                result = await self._run(context, decoded)
        except TimeoutError:
            why = f"{self.name} took longer than {self.timeout:g} s and was stopped"
            return ToolOutcome(why, True)
        except ChatthyError as exc:  # ToolError, or the store's own words (not found …)
            return ToolOutcome(cap(exc.message or "failed", limit), True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("tool %s (%s) raised %s: %s", self.name, self.origin, type(exc).__name__, exc)
            return ToolOutcome(cap(f"{type(exc).__name__}: {exc}", limit), True)
        if isinstance(result, ToolOutcome):
            images = result.images
            if not isinstance(images, tuple | list) or not all(
                isinstance(i, ImagePart) and isinstance(i.url, str) for i in images
            ):
                why = f"{self.name} returned images that are not a tuple of picture() parts"
                return ToolOutcome(why, True)
            text = cap(str(result.content), limit)
            return ToolOutcome(text, bool(result.is_error), tuple(images))
        return ToolOutcome(cap(_text_of(result), limit))

    async def _run(self, context: ToolContext, arguments: dict[str, Any]) -> Any:
        if self.thread:
            return await asyncio.to_thread(self.run, context, arguments)
        result = self.run(context, arguments)
        if inspect.isawaitable(result):
            result = await result
        return result


def _text_of(result: Any) -> str:
    """A tool's return value as the text the model reads: strings as they are, None as
    "done", anything else as JSON."""
    if result is None:
        return "done"
    if isinstance(result, str):
        return result
    try:
        return msgspec.json.encode(result).decode()
    except (TypeError, msgspec.EncodeError):
        return str(result)


def _described(function: Callable[..., Any]) -> str:
    """A docstring without its ``Args:``/``Returns:``/``Raises:`` sections."""
    doc = inspect.getdoc(function) or ""
    kept: list[str] = []
    for line in doc.splitlines():
        if line.strip() in ("Args:", "Arguments:", "Returns:", "Raises:", "Parameters:"):
            break
        kept.append(line)
    return "\n".join(kept).strip()


def _argument_help(function: Callable[..., Any]) -> dict[str, str]:
    """What the docstring's ``Args:`` section says of each argument (Google style:
    ``name: what it is``, continued on more indented lines)."""
    told: dict[str, str] = {}
    inside, current = False, ""
    for line in (inspect.getdoc(function) or "").splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            inside = True
            continue
        if not inside:
            continue
        if not line.startswith(" ") and stripped:
            break  # the next section
        found = _ARG_LINE.match(line)
        if found and len(found.group(1)) <= 8:
            current = found.group(2)
            told[current] = found.group(3).strip()
        elif current and stripped:
            told[current] += " " + stripped
    return told


_ARG_LINE = re.compile(r"^(\s+)(\w+)(?:\s*\([^)]*\))?:\s*(.*)$")


def _problems(exc: pydantic.ValidationError) -> str:
    """pydantic's errors as one line: where and what, for each."""
    out = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ())) or "arguments"
        out.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(out)


class ToolRegistry:
    """Name → tool, for one server: the built-ins, then plugins and MCP servers' tools
    (a later one of a name replaces an earlier). ``problems`` lists what could not be
    loaded, each once, with its reason."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        self.problems: list[str] = []

    def add(self, tool: Tool) -> None:
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def replace_origin(self, prefix: str, tools: list[Tool]) -> None:
        """Put ``tools`` in place of every tool whose origin starts with ``prefix`` (the
        tools of MCP servers, ``mcp:NAME``, as the servers come and go)."""
        for name in [n for n, t in self._tools.items() if t.origin.startswith(prefix)]:
            del self._tools[name]
        for tool in tools:
            self._tools.setdefault(tool.name, tool)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def tools(self, names: list[str] | None = None) -> list[Tool]:
        """The tools named (all when ``names`` is None), in the order given; a name with
        ``*``, ``?`` or ``[…]`` is a pattern (``files__*``: every tool of the MCP server
        ``files``) standing for the tools it matches, by name; unknown names are left
        out, and a tool two entries name comes once."""
        if names is None:
            return [self._tools[n] for n in sorted(self._tools)]
        chosen: dict[str, Tool] = {}
        for entry in names:
            if is_pattern(entry):
                for name in sorted(self._tools):
                    if fnmatch.fnmatchcase(name, entry):
                        chosen.setdefault(name, self._tools[name])
            elif entry in self._tools:
                chosen.setdefault(entry, self._tools[entry])
        return list(chosen.values())

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)
