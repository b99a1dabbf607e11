"""Tool chains: ``chains/NAME.toml`` in the config dir, steps each fed the output of the
one before.

```toml
description = "Summarise a text, then keep the summary in the workspace"

[[steps]]
template = "Summarise in five bullet points:\n\n{input}"
# provider = "local"      # the server's default provider when not given
# model = "some-model"

[[steps]]
tool = "workspace_write"
arguments = { name = "summary.md", text = "{input}" }
```

A ``template`` step sends its text, ``{input}`` replaced by what came before, to a model
(one message, no history) and passes on the reply; a ``tool`` step runs the tool with its
``arguments``, ``{input}`` replaced in each string, and passes on its result. A chain runs
with ``chatthy chain NAME [FILE]`` and, as the tool ``chain_NAME(input)``, when a model
calls it. A step that fails stops the chain with one line naming the step.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from chatthy.agent.tools import Tool, ToolContext, ToolError, ToolRegistry
from chatthy.conversation.events import TextDelta
from chatthy.conversation.model import Message, ToolSpec
from chatthy.providers.base import Options, Provider

__all__ = ["Chain", "ChainError", "Step", "chain_tools", "load_chains", "run_chain"]

log = logging.getLogger("chatthy.agent")


class ChainError(Exception):
    """A chain could not be read or one of its steps failed (the message says which)."""


class Step(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    template: str | None = None
    tool: str | None = None
    arguments: dict[str, Any] = msgspec.field(default_factory=dict)
    provider: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        if (self.template is None) == (self.tool is None):
            raise ValueError("a step has either a template or a tool")


class Chain(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    steps: list[Step]
    description: str = ""
    name: str = ""


def load_chains(config_dir: Path) -> tuple[dict[str, Chain], list[str]]:
    """The chains of ``config_dir/chains`` by name, and a line for each file left out."""
    chains: dict[str, Chain] = {}
    problems: list[str] = []
    folder = config_dir / "chains"
    if not folder.is_dir():
        return chains, problems
    for path in sorted(folder.glob("*.toml")):
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
            chain = msgspec.convert(raw, Chain)
            if not chain.steps:
                raise ValueError("it has no steps")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"chain {path.name} left out: {exc}")
            continue
        except (msgspec.ValidationError, ValueError) as exc:
            problems.append(f"chain {path.name} left out: {str(exc).splitlines()[0]}")
            continue
        chains[path.stem] = msgspec.structs.replace(chain, name=path.stem)
    for problem in problems:
        log.warning("%s", problem)
    return chains, problems


def _filled(value: Any, text: str) -> Any:
    if isinstance(value, str):
        return value.replace("{input}", text)
    if isinstance(value, list):
        return [_filled(v, text) for v in value]
    if isinstance(value, dict):
        return {k: _filled(v, text) for k, v in value.items()}
    return value


async def run_chain(
    chain: Chain,
    text: str,
    provider_of: Callable[[str | None], Provider],
    tools: ToolRegistry,
    context: ToolContext,
) -> str:
    """Run ``chain`` on ``text``; its last step's output.

    Raises:
        ChainError: a step failed (unknown provider or tool, a model or tool error).
    """
    for number, step in enumerate(chain.steps, 1):
        if step.template is not None:
            where = f"step {number} (template)"
            try:
                provider = provider_of(step.provider)
                message = Message.of_text("user", _filled(step.template, text))
                pieces = [
                    event.text
                    async for event in provider.stream([message], Options(model=step.model))
                    if type(event) is TextDelta
                ]
            except Exception as exc:
                raise ChainError(f"chain {chain.name}: {where} failed: {exc}") from exc
            text = "".join(pieces)
            continue
        where = f"step {number} ({step.tool})"
        tool = tools.get(step.tool or "")
        if tool is None:
            raise ChainError(f"chain {chain.name}: {where}: there is no such tool")
        arguments = msgspec.json.encode(_filled(step.arguments, text)).decode()
        outcome = await tool.call(context, arguments)
        if outcome.is_error:
            raise ChainError(f"chain {chain.name}: {where} failed: {outcome.content}")
        text = outcome.content
    return text


def _changes(step: Step, tools: ToolRegistry) -> bool:
    if step.tool is None:
        return False
    tool = tools.get(step.tool)
    return tool is None or tool.changes


def chain_tools(
    chains: dict[str, Chain],
    provider_of: Callable[[str | None], Provider],
    tools: ToolRegistry,
) -> list[Tool]:
    """Each chain as the tool ``chain_NAME(input)``; one that runs a tool that changes
    something changes something itself (its calls are approved)."""
    made = []
    for name, chain in chains.items():

        async def run(context: ToolContext, arguments: dict[str, Any], chain: Chain = chain) -> str:
            text = arguments.get("input")
            if not isinstance(text, str):
                raise ToolError('give the chain its input as a string: {"input": "…"}')
            try:
                return await run_chain(chain, text, provider_of, tools, context)
            except ChainError as exc:
                raise ToolError(str(exc)) from None

        changes = any(_changes(step, tools) for step in chain.steps)
        spec = ToolSpec(
            f"chain_{name}"[:64],
            chain.description or f"Run the tool chain '{name}' on a text.",
            {
                "type": "object",
                "properties": {"input": {"type": "string", "description": "the text to run on"}},
                "required": ["input"],
            },
        )
        origin = f"chains/{name}.toml"
        made.append(Tool(spec, run, changes=changes, timeout=600.0, origin=origin, thread=False))
    return made
