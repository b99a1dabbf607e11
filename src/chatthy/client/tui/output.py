"""The chat as the user reads it: quoted user messages, replies as Markdown that grows
while it streams, reasoning dimmed and collapsible, each message with its time, one-line
notices; vim-like keys."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.dom import DOMNode
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Collapsible, Markdown, Static

from chatthy.client.tui.find import (
    Hit,
    Row,
    Shown,
    code_blocks_in,
    find_all,
    mark,
    matches,
    rows_of,
)
from chatthy.client.tui.live import LiveMarkdown
from chatthy.client.tui.render import CodeSpan, MarkdownText

__all__ = ["ChatLog", "ReplyView", "UserMessage", "quote", "text_of", "when_text"]

_MARKS = {
    "cancelled": "⊘ cancelled",
    "truncated": "✂ cut off at the token limit",
    "interrupted": "⚠ interrupted (the server stopped)",
    "error": "✗ error",
    "streaming": "… streaming",
}


def _index_of(rows: list[Row], line: tuple[Shown, int]) -> int | None:
    widget, number = line
    for index, row in enumerate(rows):
        if row.widget is widget and row.line == number:
            return index
    return None


def text_of(content: Any) -> str:
    """The text of a stored message's content (a string, or OpenAI-style parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                parts.append(str(part.get("text", "")))
            elif isinstance(part, dict):
                parts.append(f"[{part.get('type', 'part')}]")
        return "\n".join(parts)
    return str(content)


def quote(text: str) -> str:
    """``text`` as a Markdown block quote."""
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines() or [""])


def when_text(when: float, now: float | None = None) -> str:
    """A message's time: ``14:03`` today, ``2026-11-20 14:03`` on another day."""
    moment = time.localtime(when)
    today = time.localtime(now)
    same_day = moment[:3] == today[:3]
    return time.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M", moment)


class UserMessage(MarkdownText):
    """A message of the user's, quoted, with its time under it (one widget: a chat shows
    many)."""

    DEFAULT_CSS = """
    UserMessage { margin: 1 0 0 0; }
    """

    def __init__(self, text: str, message_id: int | None = None, when: float | None = None) -> None:
        self.when = when or time.time()
        super().__init__(quote(text), footer=f"you · {when_text(self.when)}")
        self.text = text
        self.message_id = message_id


class ReplyView(Vertical):
    """One reply: reasoning (dimmed, collapsible, only once there is some), the text, and a
    footer with provider, model, time and how it ended. A reply that streams is a
    :class:`LiveMarkdown`, which redraws only its last block; a stored or finished one is
    a :class:`MarkdownText`, drawn once."""

    DEFAULT_CSS = """
    ReplyView { height: auto; margin: 1 0 0 0; }
    ReplyView > Collapsible { border: none; padding: 0; margin: 0; }
    ReplyView .reasoning { color: $text-muted; text-style: dim italic; }
    ReplyView > .footer { color: $text-muted; height: 1; }
    ReplyView.-stopped > .footer { color: $warning; }
    ReplyView.-failed > .footer { color: $error; }
    """

    def __init__(
        self,
        text: str = "",
        *,
        provider: str = "",
        model: str = "",
        when: float | None = None,
        status: str = "complete",
        error: str = "",
        message_id: int | None = None,
    ) -> None:
        super().__init__()
        self.text = text
        self.meta = f"{provider}:{model}" if model else provider
        self.when = when or time.time()
        self.status = status
        self.error = error
        self.message_id = message_id
        self._live = LiveMarkdown(text) if status == "streaming" else None
        self._thinking: LiveMarkdown | None = None
        self.set_class(status in ("cancelled", "interrupted", "truncated"), "-stopped")
        self.set_class(status == "error", "-failed")

    class Redrawn(Message):
        """The reply ended and its live text was replaced by ``text``, drawn line for
        line as ``live`` was (so what pointed at a line of one points at the other)."""

        def __init__(self, live: LiveMarkdown, text: MarkdownText) -> None:
            super().__init__()
            self.live = live
            self.text = text

    def compose(self) -> ComposeResult:
        yield self._live or MarkdownText(self.text, classes="body")
        yield Static(Content(self._footer()), classes="footer")

    def _footer(self) -> str:
        parts = [p for p in (self.meta, when_text(self.when)) if p]
        if self.status != "complete":
            parts.append(_MARKS.get(self.status, self.status))
        if self.error:
            parts.append(self.error)
        return " · ".join(parts)

    def add_text(self, text: str) -> None:
        """More of the reply's text (ignored once it has finished)."""
        if self._live is not None:
            self.text += text
            self._live.append(text)

    async def add_reasoning(self, text: str) -> None:
        if self._thinking is None:
            self._thinking = LiveMarkdown(classes="reasoning")
            box = Collapsible(self._thinking, title="reasoning", collapsed=False)
            await self.mount(box, before=0)
        self._thinking.append(text)

    async def finish(self, status: str, error: str = "") -> None:
        """The reply ended: mark how, flush the text, fold the reasoning away, and draw
        the text as a stored reply is drawn (LaTeX as Unicode, cheap to keep)."""
        self.status, self.error = status, error
        if self._live is not None:
            live, self._live = self._live, None
            text = MarkdownText(self.text, classes="body")
            with self.app.batch_update():  # never both on screen, not even for a frame
                await self.mount(text, after=live)
                await live.remove()
            self.post_message(self.Redrawn(live, text))
        self.set_class(status in ("cancelled", "interrupted", "truncated"), "-stopped")
        self.set_class(status == "error", "-failed")
        self.query_one(".footer", Static).update(Content(self._footer()))
        for box in self.query(Collapsible):
            box.collapsed = True


class ChatLog(VerticalScroll, can_focus=True):
    """The open chat, newest at the bottom; follows the end while a reply streams until the
    user scrolls away."""

    DEFAULT_CSS = """
    ChatLog { height: 1fr; padding: 0 1; scrollbar-size-vertical: 1; scrollbar-gutter: stable; }
    ChatLog:focus { background: $surface-lighten-1 5%; }
    ChatLog > .notice { color: $text-muted; margin: 1 0 0 0; }
    ChatLog > .notice.-error { color: $error; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "move(1)", "Down", show=False),
        Binding("k", "move(-1)", "Up", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
        Binding("ctrl+d", "page_down", "Page down", show=False),
        Binding("ctrl+u", "page_up", "Page up", show=False),
        Binding("y", "copy_reply", "Copy", show=False),
        Binding("slash", "search", "Search", show=False),
        Binding("n", "next_match(1)", "Next match", show=False),
        Binding("N", "next_match(-1)", "Previous match", show=False),
        Binding("v", "visual", "Select lines", show=False),
        Binding("escape", "escape", "Cancel", show=False),
        Binding("c", "copy_code", "Copy code", show=False),
        Binding("dollar_sign", "toggle_latex", "LaTeX source", show=False),
    ]

    OLDER_MARGIN: ClassVar[int] = 4
    """Lines from the top at which the older messages not shown yet are asked for."""

    class Copied(Message):
        """Text went to the clipboard (``size`` 0: there was nothing to copy)."""

        def __init__(self, what: str, size: int) -> None:
            super().__init__()
            self.what = what
            self.size = size

    class Said(Message):
        """Something to tell the user on the status line."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class SearchAsked(Message):
        """``/`` was pressed: the app opens the search prompt and calls :meth:`search`."""

    class NeedOlder(Message):
        """The view is near the top and older messages are not shown yet: the app fetches
        them and hands them to :meth:`prepend`, or calls :meth:`older_done`."""

    def __init__(self) -> None:
        super().__init__()
        self.older = 0
        """How many older messages of the chat are not shown yet."""
        self.latex = True
        """Math shown as Unicode; ``$`` toggles to its LaTeX source."""
        self._asking = False
        self._placing = False
        self.finding = ""
        """What was searched for last."""
        self._hit: tuple[Shown, int, int] | None = None
        self._visual: tuple[tuple[Shown, int], tuple[Shown, int]] | None = None
        """The visual selection's first line and the line that j/k move."""
        self._code: tuple[Shown, CodeSpan] | None = None
        """The code block copied last (highlighted until Esc)."""

    def on_mount(self) -> None:
        self.anchor()

    def on_reply_view_redrawn(self, event: ReplyView.Redrawn) -> None:
        """A search match, visual selection or copied block in a reply that just ended
        stays where it was, on the reply as stored."""

        def moved(widget: Shown) -> Shown:
            return event.text if widget is event.live else widget

        if self._hit is not None:
            self._hit = (moved(self._hit[0]), *self._hit[1:])
        if self._visual is not None:
            (a, i), (b, j) = self._visual
            self._visual = ((moved(a), i), (moved(b), j))
        if self._code is not None:
            self._code = (moved(self._code[0]), self._code[1])
        if self._hit is not None or self._visual is not None or self._code is not None:
            self.call_after_refresh(lambda: self._show_marks(rows_of(self)))

    async def clear(self) -> None:
        await self.remove_children()
        self.older, self._asking, self._placing = 0, False, False
        self._hit = self._visual = self._code = None
        self.anchor()

    async def show(self, widgets: list[Widget], older: int) -> None:
        """Show a chat's newest messages (``widgets``), ``older`` more above them to be
        fetched when the user scrolls up to them."""
        await self.clear()
        self.older = older
        await self.mount_all([*self._older_line(), *widgets])
        self.scroll_end(animate=False)
        self.call_after_refresh(self.check_older)

    def _older_line(self) -> list[Widget]:
        if not self.older:
            return []
        return [Static(Content(self._older_text()), classes="notice older")]

    def _older_text(self) -> str:
        return f"↑ {self.older:,} older message{'s' * (self.older != 1)} (scroll up to see them)"

    def check_older(self) -> None:
        if self.older and not self._asking and self.scroll_y <= self.OLDER_MARGIN:
            self._asking = True
            self.post_message(self.NeedOlder())

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self.check_older()

    async def prepend(self, widgets: list[Widget], older: int) -> None:
        """Put older messages above the first one, keeping the view where it was."""
        height, y = self.virtual_size.height, self.scroll_y
        line = self.query(".older").first(Static) if self.older else None
        self.older = older
        self._placing = True
        if line is not None:
            await self.mount_all(widgets, after=line)
            if older:
                line.update(Content(self._older_text()))
            else:
                await line.remove()
        else:
            await self.mount_all(widgets, before=0)
        self.call_after_refresh(self._keep_place, height, y)

    def _keep_place(self, height: int, y: float) -> None:
        self.scroll_to(y=y + self.virtual_size.height - height, animate=False, immediate=True)
        self._asking = self._placing = False
        self.call_after_refresh(self.check_older)

    def older_done(self) -> None:
        """The fetch for :class:`NeedOlder` ended without :meth:`prepend`."""
        if not self._placing:
            self._asking = False

    async def add_user(
        self, text: str, message_id: int | None = None, when: float | None = None
    ) -> UserMessage:
        widget = UserMessage(text, message_id, when)
        await self.mount(widget)
        return widget

    async def add_reply(self, **fields: Any) -> ReplyView:
        view = ReplyView(**fields)
        await self.mount(view)
        return view

    async def add_notice(self, text: str, *, markdown: bool = False, error: bool = False) -> None:
        """Something the client says (command output, hints), apart from the chat."""
        widget: Static | Markdown
        if markdown:
            widget = Markdown(text, classes="notice")
        else:
            widget = Static(Content(text), classes="notice")
        widget.set_class(error, "-error")
        await self.mount(widget)

    def shown_reply(self) -> ReplyView | None:
        """The lowest reply on screen (else the last one)."""
        replies = self.replies()
        seen = [v for v in replies if v.region.overlaps(self.region)]
        candidates = seen or replies
        return candidates[-1] if candidates else None

    def action_copy_reply(self) -> None:
        """Copy the visual selection, else the mouse selection, else the reply on screen
        (OSC 52 and the app's clipboard)."""
        if self._visual is not None:
            self._copy_visual()
            return
        selected = self.screen.get_selected_text()
        reply = self.shown_reply()
        text = selected or (reply.text if reply else "")
        self._copy(text, "selection" if selected else "reply")

    def action_copy_code(self) -> None:
        """Copy the code block at the cursor (the search match, or the line j/k move in a
        visual selection), else the lowest code block on screen; pressed again, the one
        above the block copied last, round the blocks on screen. The block copied stays
        highlighted until Esc."""
        rows = rows_of(self)
        top = round(self.scroll_y)
        bottom = top + self.scrollable_content_region.height
        shown = [
            (b.widget, b.span)
            for b in code_blocks_in(rows)
            if any(top <= rows[i].y < bottom for i in b.rows)
        ]
        self._code = self._code_to_copy(rows, shown)
        self._show_marks(rows)
        if self._code is None:
            self._copy("", "code block on screen")
            return
        which = f" {shown.index(self._code) + 1} of {len(shown)} on screen"
        self._copy(self._code[1].code, "code block" + which * (len(shown) > 1))

    def _code_to_copy(
        self, rows: list[Row], shown: list[tuple[Shown, CodeSpan]]
    ) -> tuple[Shown, CodeSpan] | None:
        """Of the code blocks ``shown``: the one at the cursor unless it was copied last,
        else the one above the block copied last, else the lowest."""
        cursor = self._cursor_row(rows)
        for block in code_blocks_in(rows) if cursor is not None else ():
            key = (block.widget, block.span)
            if cursor in block.rows and key in shown and key != self._code:
                return key
        if self._code in shown:
            return shown[shown.index(self._code) - 1]
        return shown[-1] if shown else None

    def _cursor_row(self, rows: list[Row]) -> int | None:
        """The row of the cursor: the line j/k move in visual mode, else the match."""
        if self._visual is not None:
            return _index_of(rows, self._visual[1])
        hit = self._current_hit(rows)
        return hit.row if hit is not None else None

    def _copied_rows(self, rows: list[Row]) -> range | None:
        for block in code_blocks_in(rows) if self._code is not None else ():
            if (block.widget, block.span) == self._code:
                return block.rows
        return None

    def _copy(self, text: str, what: str) -> None:
        if text:
            self.app.copy_to_clipboard(text)
        self.post_message(self.Copied(what, len(text)))

    def action_toggle_latex(self) -> None:
        self.latex = not self.latex
        for text in self.query(MarkdownText):
            text.show_latex(self.latex)
        for live in self.query(LiveMarkdown):
            live.show_latex(self.latex)
        shown = "as Unicode" if self.latex else "as LaTeX source"
        self.post_message(self.Said(f"math shown {shown} ($ toggles)"))

    # ---- search and visual selection ------------------------------------------------

    @property
    def visual(self) -> bool:
        return self._visual is not None

    def action_search(self) -> None:
        self.post_message(self.SearchAsked())

    def search(self, query: str) -> None:
        """Jump to the first match of ``query`` from the top of the view down."""
        self.finding, self._hit = query, None
        self._jump(1)

    def action_next_match(self, step: int) -> None:
        if not self.finding:
            self.post_message(self.Said("nothing searched for yet: / searches"))
            return
        self._jump(step)

    def _jump(self, step: int) -> None:
        rows = rows_of(self)
        hits = find_all(rows, self.finding)
        if not hits:
            self._hit = None
            self._show_marks(rows)
            self.post_message(self.Said(f"no match for '{self.finding}'"))
            return
        here = self._hit_key(rows)
        if step > 0:
            after = [h for h in hits if h.key(rows) > here]
            hit = after[0] if after else hits[0]
        else:
            before = [h for h in hits if h.key(rows) < here]
            hit = before[-1] if before else hits[-1]
        wrapped = (hit.key(rows) <= here) if step > 0 else (hit.key(rows) >= here)
        row = rows[hit.row]
        self._hit = (row.widget, row.line, hit.start)
        self._show_marks(rows)
        self._bring_into_view(row.y)
        where = f"match {hits.index(hit) + 1} of {len(hits)} for '{self.finding}'"
        self.post_message(self.Said(where + (" (search wrapped)" if wrapped else "")))

    def _hit_key(self, rows: list[Row]) -> tuple[int, int]:
        """Where the next search starts: the current match, else just above the view."""
        if self._hit is not None:
            widget, line, start = self._hit
            for row in rows:
                if row.widget is widget and row.line == line:
                    return row.y, start
        return round(self.scroll_y), -1

    def _current_hit(self, rows: list[Row]) -> Hit | None:
        """The match jumped to, if its text is still there (a streaming reply's growing
        lines are drawn again, and can move it)."""
        if self._hit is None:
            return None
        widget, line, start = self._hit
        index = _index_of(rows, (widget, line))
        end = start + len(self.finding)
        if index is None or not matches(rows[index].text[start:end], self.finding):
            return None
        return Hit(index, start, end)

    def _bring_into_view(self, y: int) -> None:
        top, height = round(self.scroll_y), self.scrollable_content_region.height
        if not top <= y < top + height:
            self.scroll_to(y=max(0, y - height // 3), animate=False, immediate=True)

    def _show_marks(self, rows: list[Row]) -> None:
        mark(rows, self._current_hit(rows), self._selected(rows), self._copied_rows(rows))

    def _selected(self, rows: list[Row]) -> range | None:
        if self._visual is None:
            return None
        ends = [_index_of(rows, end) for end in self._visual]
        if ends[0] is None or ends[1] is None:
            return None
        return range(min(ends[0], ends[1]), max(ends[0], ends[1]) + 1)

    def action_visual(self) -> None:
        """Start a line-wise selection at the match on screen, else the top line shown."""
        if self._visual is not None:
            self._end_visual("selection cancelled")
            return
        rows = rows_of(self)
        top = round(self.scroll_y)
        bottom = top + self.scrollable_content_region.height
        shown = [i for i, r in enumerate(rows) if top <= r.y < bottom and r.text.strip()]
        hit = self._current_hit(rows)
        start = hit.row if hit is not None and hit.row in shown else shown[0] if shown else None
        if start is None:
            self.post_message(self.Said("nothing to select"))
            return
        end = (rows[start].widget, rows[start].line)
        self._visual = (end, end)
        self._show_marks(rows)
        self.post_message(self.Said("-- VISUAL -- j/k extend · y copies · Esc cancels"))

    def action_move(self, step: int) -> None:
        """j/k: scroll a line, or in visual mode move the selection's end."""
        if self._visual is None:
            self.scroll_relative(y=step, animate=False)
            return
        rows = rows_of(self)
        index = _index_of(rows, self._visual[1])
        if index is None:
            self._end_visual("")
            return
        index = max(0, min(len(rows) - 1, index + step))
        self._visual = (self._visual[0], (rows[index].widget, rows[index].line))
        self._show_marks(rows)
        self._bring_into_view(rows[index].y)

    def _copy_visual(self) -> None:
        rows = rows_of(self)
        chosen = self._selected(rows) or range(0)
        lines: list[str] = []
        for index in chosen:
            new_message = lines and rows[index].widget is not rows[index - 1].widget
            if new_message and lines[-1] and rows[index].text.strip():
                lines.append("")
            lines.append(rows[index].text.rstrip())
        self._end_visual("")
        self._copy(
            "\n".join(lines).strip("\n"), f"{len(chosen)} selected line{'s' * (len(chosen) != 1)}"
        )

    def _end_visual(self, say: str) -> None:
        self._visual = None
        self._show_marks(rows_of(self))
        if say:
            self.post_message(self.Said(say))

    def action_escape(self) -> None:
        """Esc: cancel the visual selection, else take the search and copied code block
        highlights away."""
        if self._visual is not None:
            self._end_visual("selection cancelled")
        elif self._hit is not None or self._code is not None:
            self._hit = self._code = None
            self._show_marks(rows_of(self))

    def cursor_message_id(self) -> int | None:
        """The stored id of the message at the cursor (the visual-mode line, else the
        search match), if there is one."""
        rows = rows_of(self)
        row = self._cursor_row(rows)
        node: DOMNode | None = rows[row].widget if row is not None else None
        while node is not None and not isinstance(node, UserMessage | ReplyView):
            node = node.parent
        return getattr(node, "message_id", None)

    def replies(self) -> list[ReplyView]:
        return list(self.query(ReplyView))

    def users(self) -> list[UserMessage]:
        return list(self.query(UserMessage))
