"""The conversation in the Tk window: one read-only Text widget holding the open chat's
messages, rendered.

Your messages are set apart (their own background, a ``you · 12:04`` line); a reply is
Markdown (:mod:`chatthy.client.tk.markdown`: highlighted code with a copy button per
block, math as Unicode) with ``provider:model · 12:04`` and how it ended under it; its
reasoning and each tool call are folded into one line that a click opens; images are
drawn (Pillow, fetched by digest through the session for the ones the server keeps).
Every character of a message carries the tag ``msg-ID``, so that a click finds the
message (its menu: edit, regenerate, fork, copy).

A streaming reply is appended to, never drawn again whole: the text that arrives is put
at the reply's end mark as it comes (at most once a frame, however many pieces came),
and each block that is complete (a blank line outside a code fence) is rendered as
Markdown once, in place of its raw text; the reply's last block is rendered when it ends.
"""

from __future__ import annotations

import asyncio
import re
import time
import tkinter as tk
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chatthy.client.image_view import (
    Fetch,
    ImageRef,
    image_bytes,
    image_parts,
    label,
    thumbnail,
    without_images,
)
from chatthy.client.session import text_of
from chatthy.client.tk.markdown import Palette, configure, render
from chatthy.client.tools import (
    ToolCallInfo,
    ToolResultInfo,
    arguments_text,
    call_text,
    has_tools,
    parts_of,
    result_line,
)

if TYPE_CHECKING:
    from PIL.ImageTk import PhotoImage

    from chatthy.wire import api

__all__ = ["Conversation", "LiveReply"]

IMAGE_BOX = (480, 360)
"""Pixels an image is drawn at most (its aspect kept)."""

_FENCE = re.compile(r"^[ \t]*(```|~~~)", re.M)


def _when(when: float | None) -> str:
    return time.strftime("%H:%M", time.localtime(when or time.time()))


def finished_blocks(text: str) -> int:
    """How much of a streaming reply's ``text`` is whole blocks: up to its last blank
    line outside a code fence (0: none yet)."""
    end = 0
    for found in re.finditer(r"\n[ \t]*\n", text):
        if len(_FENCE.findall(text, 0, found.start())) % 2 == 0:
            end = found.end()
    return end


@dataclass(eq=False)  # kept in a set: by identity
class LiveReply:
    """A reply as it streams into the conversation: its marks, the text not drawn yet,
    and how far its text is rendered."""

    conversation: Conversation
    key: str
    """The tag of its characters (``live_N``, then ``msg-ID`` too once it is stored)."""
    raw: str = ""
    """The text of its current stretch (since the last tool call), as it came."""
    rendered: int = 0
    """How much of ``raw`` is drawn as Markdown."""
    pending: list[str] = field(default_factory=list)
    """Text that came since the last frame."""
    reasoning: list[str] = field(default_factory=list)
    provider: str = ""
    model: str = ""
    when: float | None = None
    updates: int = 0
    """Frames that drew some of it (for the benchmark)."""

    @property
    def end(self) -> str:
        return f"{self.key}_end"

    @property
    def tail(self) -> str:
        return f"{self.key}_tail"

    @property
    def start(self) -> str:
        """Where the stretch of text streaming now starts (after the last tool call)."""
        return f"{self.key}_start"

    @property
    def why(self) -> str:
        """Where its reasoning starts (while it is shown, before it is folded)."""
        return f"{self.key}_why"

    def add(self, text: str) -> None:
        self.pending.append(text)
        self.conversation.dirty.add(self)


class Conversation:
    """The open chat, drawn into ``text``."""

    def __init__(
        self,
        text: tk.Text,
        palette: Palette,
        *,
        on_copy: Callable[[str], None],
        fetch: Fetch | None = None,
    ) -> None:
        self.text = text
        self.palette = palette
        self.on_copy = on_copy
        self.fetch = fetch
        self.dirty: set[LiveReply] = set()
        self.live: LiveReply | None = None
        self.images: list[PhotoImage] = []
        """Drawn images (Tk forgets an image nobody holds)."""
        self.roles: dict[int, str] = {}
        """The role of each stored message shown, in order."""
        self._serial = 0
        self._tasks: set[asyncio.Task[None]] = set()
        text.configure(state="disabled", wrap="word", undo=False, cursor="arrow")
        self.theme(palette)

    # ---- plumbing -----------------------------------------------------------------

    def theme(self, palette: Palette) -> None:
        """Colours and fonts for ``palette`` (what is shown is drawn again in them)."""
        self.palette = palette
        configure(self.text, palette)
        text = self.text
        text.configure(
            background=palette.background,
            foreground=palette.foreground,
            insertbackground=palette.foreground,
            selectbackground=palette.accent,
        )
        text.tag_configure("user", background=palette.user_background, lmargin1=12, lmargin2=12)
        text.tag_configure("meta", foreground=palette.muted)
        text.tag_configure("notice", foreground=palette.muted, lmargin1=4, lmargin2=4)
        text.tag_configure("error", foreground=palette.error)
        text.tag_configure("raw", foreground=palette.foreground)
        text.tag_configure("reasoning", foreground=palette.muted)
        text.tag_configure("fold", foreground=palette.accent)
        text.tag_configure("folded", elide=True)
        text.tag_raise("folded")

    def _new_key(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}_{self._serial}"  # (no "-": marks are read in index expressions)

    def _insert(self, index: str, chunk: str, *tags: str) -> None:
        self.text.configure(state="normal")
        self.text.insert(index, chunk, tags)
        self.text.configure(state="disabled")

    def _at_end(self) -> bool:
        """Whether the view shows the end (then it follows what is added)."""
        return self.text.yview()[1] >= 0.999

    def _follow(self, was_at_end: bool) -> None:
        if was_at_end:
            self.text.see("end")

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def clear(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.text.configure(state="normal")
        self.text.delete("1.0", "end")
        for tag in self.text.tag_names():
            if tag.startswith(("msg-", "live_", "fold_", "body_")):
                self.text.tag_delete(tag)
        self.text.configure(state="disabled")
        self.images.clear()
        self.roles.clear()
        self.dirty.clear()
        self.live = None

    def message_at(self, index: str) -> int | None:
        """The stored message at ``index`` (a click), if any."""
        for tag in self.text.tag_names(index):
            if tag.startswith("msg-"):
                return int(tag[4:])
        return None

    def message_text(self, message_id: int) -> str:
        ranges = self.text.tag_ranges(f"msg-{message_id}")
        if not ranges:
            return ""
        return self.text.get(ranges[0], ranges[-1]).strip()

    # ---- messages -----------------------------------------------------------------

    def show(self, messages: Sequence[api.MessageInfo], older: int) -> None:
        """Show ``messages`` (oldest first) in place of what is shown."""
        self.clear()
        self.text.mark_set("top", "1.0")
        self.text.mark_gravity("top", "left")
        self._older_line(older)
        for record in messages:
            self._record("end", record)
        self.text.see("end")

    def prepend(self, messages: Sequence[api.MessageInfo], older: int) -> None:
        """Put ``messages`` (oldest first) above those shown; ``older`` more before
        them. The view stays on what it showed."""
        text = self.text
        ranges = text.tag_ranges("older")
        if ranges:
            text.configure(state="normal")
            text.delete(ranges[0], ranges[-1])
            text.configure(state="disabled")
        text.mark_set("top", "1.0")
        text.mark_gravity("top", "right")  # each message goes after the one before it
        shown, self.roles = self.roles, {}
        for record in messages:
            self._record("top", record)
        self.roles.update(shown)
        first = text.index("top")
        text.mark_gravity("top", "left")
        text.mark_set("top", "1.0")
        self._older_line(older)
        text.see(first)
        text.yview(first)

    def _older_line(self, older: int) -> None:
        """The line above the messages saying how many are older: a click shows them."""
        if not older:
            return
        line = f"↑ {older:,} older message(s): click to show them\n\n"
        self._insert("1.0", line, "notice", "fold", "older")

    def _record(self, index: str, record: api.MessageInfo) -> None:
        if record.role == "user":
            self.add_user(
                text_of(without_images(record.content)),
                record.id,
                record.created or None,
                image_parts(record.content),
                index=index,
            )
        elif record.role == "assistant":
            self._stored_reply(record, index)

    def add_user(
        self,
        text: str,
        message_id: int | None,
        when: float | None,
        images: Sequence[ImageRef] = (),
        *,
        index: str = "end",
    ) -> None:
        was_at_end = self._at_end()
        key = f"msg-{message_id}" if message_id is not None else self._new_key("live")
        if message_id is not None:
            self.roles[message_id] = "user"
        for image in images:
            self._image(index, image, ("user", key))
        self._insert(index, f"{text}\n", "user", key)
        self._insert(index, f"you · {_when(when)}\n\n", "user", "meta", key)
        if index == "end":
            self._follow(was_at_end)

    def notice(self, text: str, *, error: bool = False, markdown: bool = False) -> None:
        was_at_end = self._at_end()
        if markdown and not error:
            self._markdown("end", text, "notice", "\n\n")
        else:
            self._insert("end", f"{text}\n\n", "error" if error else "notice")
        self._follow(was_at_end)

    def _stored_reply(self, record: api.MessageInfo, index: str = "end") -> None:
        key = f"msg-{record.id}"
        self.roles[record.id] = "assistant"
        content = record.content
        if isinstance(content, list) and (has_tools(content) or image_parts(content)):
            for piece in parts_of(content):
                if isinstance(piece, str):
                    self._markdown(index, piece, key)
                elif isinstance(piece, ToolCallInfo):
                    self._call(index, piece, key)
                else:
                    self._result(piece, key, index)
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image_url":
                    self._image(index, image_parts([part])[0], (key,))
        else:
            self._markdown(index, text_of(content), key)
        self._footer(
            index, key, record.provider, record.model, record.created or None, record.status,
            record.error,
        )  # fmt: skip

    def _markdown(self, index: str, markdown: str, key: str, gap: str = "\n") -> None:
        """``markdown`` drawn at ``index``, ``gap`` after it (the renderer adds none)."""
        if not markdown.strip():
            return
        self.text.configure(state="normal")
        at = "end-1c" if index == "end" else index  # (at "end", a code block's head line
        # was tagged onto the widget's last, empty line: a bar under everything)
        render(self.text, at, markdown.strip("\n"), on_copy=self.on_copy, extra_tags=(key,))
        self.text.insert(index, gap, (key,))
        self.text.configure(state="disabled")

    def _footer(
        self,
        index: str,
        key: str,
        provider: str,
        model: str,
        when: float | None,
        status: str,
        error: str = "",
    ) -> None:
        meta = f"{provider}:{model}" if model else provider
        line = f"{meta} · {_when(when)}" if meta else _when(when)
        if status not in ("complete", "streaming"):
            line += f" · {status}"
        self._insert(index, line + "\n", "meta", key)
        if error:
            self._insert(index, f"error: {error}\n", "error", key)
        self._insert(index, "\n", key)

    def _fold(
        self, index: str, head: str, body: str, key: str, *, tags: tuple[str, ...] = ()
    ) -> str:
        """A line ``head`` that opens and folds ``body`` (folded to begin with); the tag
        of its head line."""
        fold, hidden = self._new_key("fold"), self._new_key("body")
        self._insert(index, f"▸ {head}\n", "fold", fold, key, *tags)
        self._insert(index, body.rstrip() + "\n", "folded", hidden, key, *tags)
        self.text.tag_bind(fold, "<Button-1>", lambda _e: self.toggle(fold, hidden))
        self.text.tag_bind(fold, "<Enter>", lambda _e: self.text.configure(cursor="hand2"))
        self.text.tag_bind(fold, "<Leave>", lambda _e: self.text.configure(cursor="arrow"))
        return fold

    def toggle(self, fold: str, hidden: str) -> None:
        """Open a folded line's body, or fold it again."""
        ranges = self.text.tag_ranges(hidden)
        if not ranges:
            return
        opened = "folded" not in self.text.tag_names(ranges[0])
        self.text.configure(state="normal")
        if opened:
            self.text.tag_add("folded", *ranges)
        else:
            self.text.tag_remove("folded", *ranges)
        head = self.text.tag_ranges(fold)
        if head:
            self.text.delete(head[0], f"{head[0]} + 1 char")
            self.text.insert(head[0], "▸" if opened else "▾", ("fold", fold))
        self.text.configure(state="disabled")

    def _call(self, index: str, call: ToolCallInfo, key: str) -> str:
        body = f"arguments:\n{arguments_text(call.arguments)}"
        return self._fold(index, f"⚙ {call_text(call.name, call.arguments)}", body, key)

    def _result(self, result: ToolResultInfo, key: str, index: str = "end") -> None:
        line = f"  → {result_line(result)}\n"
        self._insert(index, line, "meta", "error" if result.is_error else "meta", key)
        for image in result.images:
            self._image(index, image, (key,))

    def _image(self, index: str, ref: ImageRef, tags: tuple[str, ...]) -> None:
        """``ref`` drawn at ``index`` (its label under it); fetched in the background,
        its place held by a mark."""
        mark = self._new_key("img")
        self.text.mark_set(mark, "end-1c" if index == "end" else index)
        self.text.mark_gravity(mark, "left")  # before its label, whatever follows
        self._insert(index, f"{label(ref)}\n", "meta", *tags)
        self._spawn(self._draw_image(mark, ref, tags))

    async def _draw_image(self, mark: str, ref: ImageRef, tags: tuple[str, ...]) -> None:
        try:
            data = await image_bytes(ref, self.fetch)
            photo = await asyncio.to_thread(thumbnail, data, *IMAGE_BOX)
        except Exception:  # its label (drawn already) says what it was
            return
        if mark not in self.text.mark_names():
            return
        from PIL import ImageTk

        image = ImageTk.PhotoImage(photo)
        self.images.append(image)
        self.text.configure(state="normal")
        self.text.image_create(mark, image=image)
        self.text.insert(f"{mark} + 1 char", "\n", tags)  # the mark stays before the image
        self.text.configure(state="disabled")

    # ---- a streaming reply --------------------------------------------------------

    def add_reply(self, provider: str, model: str, when: float | None) -> LiveReply:
        was_at_end = self._at_end()
        reply = LiveReply(self, self._new_key("live"), provider=provider, model=model, when=when)
        text = self.text
        text.mark_set(reply.end, "end-1c")
        text.mark_gravity(reply.end, "right")
        self._insert(reply.end, "\n", reply.key)  # where the footer goes, after the text
        text.mark_set(reply.end, f"{reply.end} - 1 char")
        self._begin(reply)
        self.live = reply
        self._follow(was_at_end)
        return reply

    def _begin(self, reply: LiveReply) -> None:
        """A stretch of text starts at the reply's end (first, or after a call)."""
        for mark in (reply.start, reply.tail):
            self.text.mark_set(mark, reply.end)
            self.text.mark_gravity(mark, "left")

    def flush(self) -> None:
        """Draw what came for each streaming reply since the last frame."""
        for reply in list(self.dirty):
            if reply.pending:
                was_at_end = self._at_end()
                self._append(reply, "".join(reply.pending))
                reply.pending.clear()
                reply.updates += 1
                self._follow(was_at_end)
        self.dirty.clear()

    def _append(self, reply: LiveReply, text: str) -> None:
        """``text`` added to the reply's raw tail; the blocks it completes rendered."""
        self._insert(reply.end, text, "raw", reply.key)
        reply.raw += text
        # (what is rendered ends outside a fence: the rest is read from there, once)
        done = finished_blocks(reply.raw[reply.rendered :])
        if done:
            self._render_upto(reply, reply.rendered + done)

    def _render_upto(self, reply: LiveReply, upto: int) -> None:
        """The raw text from the tail mark to ``upto`` of ``raw`` drawn as Markdown."""
        text = self.text
        block = reply.raw[reply.rendered : upto]
        left = reply.raw[upto:]
        text.configure(state="normal")
        text.delete(reply.tail, reply.end)
        text.configure(state="disabled")
        whole = upto == len(reply.raw) and not reply.raw.endswith("\n\n")
        self._markdown(reply.end, block, reply.key, "\n" if whole else "\n\n")
        text.mark_set(reply.tail, reply.end)
        if left:
            self._insert(reply.end, left, "raw", reply.key)
        reply.rendered = upto

    def _settle(self, reply: LiveReply) -> None:
        """The stretch streaming is whole: drawn once more as one Markdown document (its
        blocks, rendered one by one as they came, may belong together: a list, a fence
        with blank lines), and a new one begins."""
        if reply.pending:
            reply.raw += "".join(reply.pending)
            reply.pending.clear()
        if reply.raw.strip():
            self.text.configure(state="normal")
            self.text.delete(reply.start, reply.end)
            self.text.configure(state="disabled")
            self._markdown(reply.end, reply.raw, reply.key)
        reply.raw, reply.rendered = "", 0
        self._begin(reply)

    def reasoning(self, reply: LiveReply, text: str) -> None:
        """More reasoning: shown dim as it comes, folded when the answer starts."""
        if not reply.reasoning:  # the text that came before it is drawn first
            self._settle(reply)
            self.text.mark_set(reply.why, reply.end)
            self.text.mark_gravity(reply.why, "left")
        reply.reasoning.append(text)
        self._insert(reply.end, text, "reasoning", reply.key)

    def _fold_reasoning(self, reply: LiveReply) -> None:
        """The reasoning shown so far becomes one folded line."""
        if not reply.reasoning:
            return
        self.text.configure(state="normal")
        self.text.delete(reply.why, reply.end)
        self.text.configure(state="disabled")
        self._fold(reply.end, "reasoning", "".join(reply.reasoning), reply.key, tags=("reasoning",))
        self._begin(reply)  # the fold is not the text's: it stays
        reply.reasoning = []

    def text_in(self, reply: LiveReply, text: str) -> None:
        if reply.reasoning:
            self._fold_reasoning(reply)
        reply.add(text)

    def tool_call(self, reply: LiveReply, call: ToolCallInfo) -> None:
        self._fold_reasoning(reply)
        self._settle(reply)
        self._call(reply.end, call, reply.key)
        self._begin(reply)

    def tool_result(self, reply: LiveReply, result: ToolResultInfo) -> None:
        self._result(result, reply.key, reply.end)
        self._begin(reply)

    def end(self, reply: LiveReply, status: str, error: str, message_id: int | None) -> None:
        """The reply ended: its last stretch rendered, its footer added, its id known."""
        was_at_end = self._at_end()
        self._fold_reasoning(reply)
        self._settle(reply)
        self._footer(reply.end, reply.key, reply.provider, reply.model, reply.when, status, error)
        if message_id is not None:
            ranges = self.text.tag_ranges(reply.key)
            if ranges:
                self.text.tag_add(f"msg-{message_id}", ranges[0], ranges[-1])
            self.roles[message_id] = "assistant"
        if self.live is reply:
            self.live = None
        self._follow(was_at_end)
