"""The system clipboard, beside the terminal's (OSC 52): the platform's copy command.

OSC 52 reaches the clipboard of the machine the terminal runs on, over SSH too, but many
terminals refuse it or ask first; a local desktop's own command always works. Which one:
``wl-copy`` on Wayland, ``xclip`` or ``xsel`` on X11 (only with a display to talk to),
``pbcopy`` on macOS, ``clip.exe`` on Windows and in WSL.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import PurePath

from chatthy.errors import ChatthyError

__all__ = ["copy_command", "copy_to_system"]

TIMEOUT = 2.0
"""Seconds a copy command may take before it is given up (and killed)."""


def _candidates(env: Mapping[str, str], platform: str) -> list[list[str]]:
    if platform == "darwin":
        return [["pbcopy"]]
    if platform == "win32":
        return [["clip.exe"]]
    found = []
    if env.get("WAYLAND_DISPLAY"):
        found.append(["wl-copy"])
    if env.get("DISPLAY"):
        found += [["xclip", "-selection", "clipboard"], ["xsel", "--clipboard", "--input"]]
    if env.get("WSL_DISTRO_NAME") or env.get("WSL_INTEROP"):
        found.append(["clip.exe"])
    return found


def copy_command(env: Mapping[str, str], platform: str) -> list[str] | None:
    """The command that copies its standard input to the system clipboard here, or None
    when there is none (no display, no tool on ``PATH``)."""
    for command in _candidates(env, platform):
        path = shutil.which(command[0], path=env.get("PATH"))
        if path is not None:
            return [path, *command[1:]]
    return None


def _encoded(text: str, name: str) -> bytes:
    """clip.exe reads UTF-16 (with its byte-order mark) as Unicode; the others UTF-8."""
    return text.encode("utf-16" if name.lower() == "clip.exe" else "utf-8")


async def copy_to_system(text: str, command: list[str], timeout: float = TIMEOUT) -> None:
    """Run ``command`` with ``text`` on its standard input, off the event loop's way.

    Its output goes nowhere: xclip, xsel and wl-copy leave a process behind that owns the
    selection, and it would hold a pipe open.

    Raises:
        ChatthyError: the command could not start, failed, or took longer than ``timeout``.
    """
    name = PurePath(command[0]).name
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError as exc:
        raise ChatthyError(f"{name} could not start: {exc.strerror or exc}") from exc
    try:
        async with asyncio.timeout(timeout):
            await process.communicate(_encoded(text, name))
    except TimeoutError:
        raise ChatthyError(f"{name} gave no answer in {timeout:g} s") from None
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    if process.returncode:
        raise ChatthyError(f"{name} failed (exit status {process.returncode})")
