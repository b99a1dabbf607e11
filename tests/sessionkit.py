"""A front end for session tests that keeps what the session had it show, and a wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from chatthy.client.image_view import ImageRef
from chatthy.client.session import ChatState, ReplySink
from chatthy.client.tools import ApprovalRequest, ToolCallInfo, ToolResultInfo
from chatthy.wire import api

__all__ = ["Recorder", "Said", "until"]


class Said:
    """One reply as it streamed: its text and how it ended."""

    def __init__(self) -> None:
        self.said = ""
        self.status: str | None = None

    async def text(self, text: str) -> None:
        self.said += text

    async def reasoning(self, text: str) -> None:
        return

    async def tool_call(self, call: ToolCallInfo) -> None:
        return

    async def tool_result(self, result: ToolResultInfo) -> None:
        return

    async def approval(self, request: ApprovalRequest) -> None:
        return

    async def end(self, status: str, error: str, message_id: int | None) -> None:
        self.status = status


class Recorder:
    """A front end that keeps what the session had it show."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        """The texts of the messages shown by the last ``show_chat``."""
        self.statuses: list[str] = []
        self.replies: list[Said] = []
        self.notices: list[str] = []
        self.up: list[bool] = []

    async def show_chat(
        self, state: ChatState, messages: list[api.MessageInfo], older: int
    ) -> None:
        self.shown = [str(m.content) for m in messages]

    async def show_older(self, messages: list[api.MessageInfo], older: int) -> None:
        return

    async def add_user(
        self,
        text: str,
        message_id: int | None,
        when: float | None,
        images: Sequence[ImageRef] = (),
    ) -> None:
        self.shown.append(text)

    async def add_reply(self, provider: str, model: str, when: float | None) -> ReplySink:
        sink = Said()
        self.replies.append(sink)
        return sink

    async def notice(self, text: str, *, markdown: bool = False, error: bool = False) -> None:
        self.notices.append(text)

    def status(self, text: str, kind: str = "") -> None:
        self.statuses.append(text)

    def show_title(self, state: ChatState) -> None:
        return

    def connection(self, ok: bool, why: str = "") -> None:
        self.up.append(ok)


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        await asyncio.sleep(0.02)
