"""The chat as the user reads it: quoted user messages, replies as Markdown that grows
while it streams, reasoning dimmed and collapsible, each message with its time, one-line
notices; vim-like keys.

A chat of thousands of messages is held as :class:`Entry` records; only a window of them
near the view is drawn as widgets. Scrolling to the window's edge draws the next entries
and lets go of the far ones; past the entries held, the log asks the app for a page of
the chat (:class:`ChatLog.NeedMessages`). ``Home`` and ``End`` jump to the chat's first
and last message, ``/`` looks in the entries' text and draws the window around a match.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.dom import DOMNode
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from chatthy.client.image_view import ImageRef
from chatthy.client.tui.find import (
    Hit,
    Row,
    Shown,
    code_blocks_in,
    find_all,
    mark,
    marks_for,
    matches,
    rows_of,
)
from chatthy.client.tui.images import ImageSource
from chatthy.client.tui.live import LiveMarkdown
from chatthy.client.tui.messages import (
    Entry,
    ReplyView,
    SearchHits,
    StoredReply,
    UserMessage,
    entry_of,
    quote,
    text_of,
    when_text,
)
from chatthy.client.tui.render import CodeSpan, MarkdownText, drawn
from chatthy.wire import api

__all__ = [
    "ChatLog",
    "Entry",
    "ReplyView",
    "SearchHits",
    "UserMessage",
    "entry_of",
    "quote",
    "text_of",
    "when_text",
]


def _index_of(rows: list[Row], line: tuple[Shown, int]) -> int | None:
    widget, number = line
    for index, row in enumerate(rows):
        if row.widget is widget and row.line == number:
            return index
    return None


def _counts(texts: list[str], query: str) -> list[int]:
    """How often ``query`` is in each of ``texts`` (ignoring case unless it has capitals,
    as :func:`find_all` does)."""
    fold = not any(c.isupper() for c in query)
    needle = query.lower() if fold else query
    return [(text.lower() if fold else text).count(needle) if text else 0 for text in texts]


class ChatLog(VerticalScroll, can_focus=True):
    """The open chat, newest at the bottom; follows the end while a reply streams until the
    user scrolls away. Holds every entry it was given; draws those near the view."""

    DEFAULT_CSS = """
    ChatLog { height: 1fr; padding: 0 1; scrollbar-size-vertical: 1; scrollbar-gutter: stable; }
    ChatLog:focus { background: $surface-lighten-1 5%; }
    ChatLog > .notice { color: $text-muted; margin: 1 0 0 0; }
    ChatLog > .notice.-error { color: $error; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "move(1)", "Down", show=False),
        Binding("k", "move(-1)", "Up", show=False),
        Binding("g", "top", "Top", show=False),
        Binding("G,end", "last", "Last message", show=False),
        Binding("home", "first", "First message", show=False),
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

    EDGE: ClassVar[int] = 4
    """Lines from the top or bottom of what is drawn at which more is drawn (or asked
    for)."""

    STEP: ClassVar[int] = 20
    """Entries drawn at a time when the view nears an edge of what is drawn."""

    WINDOW: ClassVar[int] = 60
    """Entries drawn at most; the ones farthest from the view go first (never a reply
    that streams)."""

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

    class NeedMessages(Message):
        """Messages the log does not hold are wanted. ``where`` is ``older`` (the page
        below id ``before``), ``newer`` (the page above id ``after``), ``first`` (the
        chat's first page) or ``last`` (its newest). The app fetches ``limit`` of them
        (``api.Messages(chat, before=…, after=…, limit=…)``) and hands them to
        :meth:`take`, then calls :meth:`fetched` whatever happened."""

        def __init__(self, where: str, before: int | None = None, after: int | None = None) -> None:
            super().__init__()
            self.where, self.before, self.after = where, before, after
            self.limit = ChatLog.PAGE

    PAGE: ClassVar[int] = 100
    """Messages asked for at a time."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[Entry] = []
        """What the log holds, oldest first; ``entries[lo:hi]`` are drawn."""
        self.lo = self.hi = 0
        self.above = 0
        """How many older messages of the chat are not held (on the server)."""
        self.below = 0
        """How many newer messages of the chat are not held (after a jump to the top)."""
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
        self._top = Static(classes="notice older")
        self._bottom = Static(classes="notice newer")
        self.images = ImageSource()
        """Where the messages' images come from: the app sets its ``fetch`` (the
        session's) for the images the server keeps."""

    @property
    def older(self) -> int:
        """How many older messages are not drawn (held or not)."""
        return self.lo + self.above

    @property
    def newer(self) -> int:
        """How many newer messages are not drawn (held or not)."""
        return len(self.entries) - self.hi + self.below

    @property
    def hit_style(self) -> str:
        return marks_for(self.app.no_color).match

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

    def on_reply_view_folded(self, event: ReplyView.Folded) -> None:
        """A reply's reasoning folded away: if the view followed the end, it still
        does once the output is shorter."""
        if self.is_anchored and not self._anchor_released:
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True)

    # ---- the window of entries drawn ------------------------------------------------

    async def clear(self) -> None:
        # a window step under way would draw the old chat's entries into the new one
        # (or beside a notice not mounted yet): it stops here
        self.workers.cancel_group(self, "window")
        await self.remove_children()
        self.entries, self.lo, self.hi, self.above, self.below = [], 0, 0, 0, 0
        self._asking, self._placing = False, False
        self._hit = self._visual = self._code = None
        self._top = Static(classes="notice older")
        self._bottom = Static(classes="notice newer")
        self.anchor()

    async def show(self, records: Sequence[api.MessageInfo], older: int, newer: int = 0) -> None:
        """Show these messages of a chat (``older`` more before them, ``newer`` after,
        to be fetched when the view reaches them): the newest, or with ``newer`` the
        first ones."""
        await self.clear()
        self.entries = [entry_of(r) for r in records]
        self.above, self.below = older, newer
        at_end, count = not newer, self.WINDOW // 2
        start = max(0, len(self.entries) - count) if at_end else 0
        await self._draw(start, min(len(self.entries), start + count))
        if at_end:
            self.scroll_end(animate=False, immediate=True)
        else:
            self.anchor(False)
            self.scroll_home(animate=False, immediate=True)
        self.call_after_refresh(self.check_edges)
        self.call_after_refresh(self._ahead)

    async def _draw(self, lo: int, hi: int) -> None:
        """Draw ``entries[lo:hi]`` instead of what is drawn."""
        for entry in self.entries[self.lo : self.hi]:
            entry.keep()
        await self.remove_children()
        self.lo, self.hi = lo, hi
        widgets = [e.make(self.hit_style, self.images) for e in self.entries[lo:hi]]
        await self.mount_all([self._top, *widgets, self._bottom])
        self._edges()

    def _edges(self) -> None:
        """Say above and below what is drawn how much more there is."""
        older, newer = self.older, self.newer
        self._top.display, self._bottom.display = older > 0, newer > 0
        many = "s" if older != 1 else ""
        self._top.update(Content(f"↑ {older:,} older message{many} (scroll up, Home: the first)"))
        many = "s" if newer != 1 else ""
        self._bottom.update(
            Content(f"↓ {newer:,} newer message{many} (scroll down, End: the last)")
        )

    def check_edges(self) -> None:
        """Near the top or bottom of what is drawn: draw more, or ask for it."""
        if self._asking or self._placing or not self.is_mounted:
            return
        if self.scroll_y <= self.EDGE and self.older:
            self._placing = True
            self.run_worker(self._extend(-1), group="window")
        elif self.scroll_y >= self.max_scroll_y - self.EDGE and self.newer:
            self._placing = True
            self.run_worker(self._extend(1), group="window")

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self.check_edges()

    async def _extend(self, step: int) -> None:
        """Draw more entries above (``step`` -1) or below (1) what is drawn, letting go
        of as many at the other end, the view kept where it was; ask the app for a page
        when there are no more held."""
        if step < 0 and not self.lo:
            self._placing = False
            self._ask("older", before=self._first_id())
        elif step > 0 and self.hi == len(self.entries):
            self._placing = False
            self._ask("newer", after=self._last_id())
        else:
            await self._grow(step)

    def _ask(self, where: str, before: int | None = None, after: int | None = None) -> None:
        self._asking = True
        self.post_message(self.NeedMessages(where, before=before, after=after))

    def _first_id(self) -> int | None:
        return next((e.message_id for e in self.entries if e.message_id is not None), None)

    def _last_id(self) -> int | None:
        ids = (e.message_id for e in reversed(self.entries) if e.message_id is not None)
        return next(ids, None)

    async def _grow(self, step: int) -> None:
        """Draw :attr:`STEP` more entries above (``step`` -1) or below, and let go of as
        many at the far end. What changes below the view does not move it; what changes
        above does, by the height it adds or takes away, which the scroll makes up for."""
        if self._top.parent is not self or self._bottom.parent is not self:
            self._placing = False  # the log is being drawn anew: nothing to grow
            return
        if step < 0:
            lo = max(0, self.lo - self.STEP)
            widgets = [e.make(self.hit_style, self.images) for e in self.entries[lo : self.lo]]
            height, y = self.virtual_size.height, self.scroll_y
            await self.mount_all(widgets, after=self._top)
            self.lo = lo
            self._edges()
            self._placing = True
            self.call_after_refresh(self._keep_place, height, y)
            return
        hi = min(len(self.entries), self.hi + self.STEP)
        widgets = [e.make(self.hit_style, self.images) for e in self.entries[self.hi : hi]]
        await self.mount_all(widgets, before=self._bottom)
        self.hi = hi
        keep = max(self.lo, self.hi - self.WINDOW)
        first, kept = self.entries[self.lo].widget, self.entries[keep].widget
        if keep > self.lo and first is not None and kept is not None:
            span = kept.virtual_region.y - first.virtual_region.y
            await self._let_go(self.lo, keep)
            self.lo = keep
            y = max(0.0, self.scroll_y - span)
            self.scroll_to(y=y, animate=False, immediate=True, release_anchor=False)
        self._edges()
        self._placing = False
        self.call_after_refresh(self.check_edges)
        self.call_after_refresh(self._ahead)

    def _trim_below(self) -> None:
        """Let go of the entries drawn farthest below the view (never a reply that
        streams): what goes below the view does not move it, so the removal need not be
        waited for."""
        keep = max(self.lo + self.WINDOW, self._streaming_end())
        if keep < self.hi:
            gone = [e for e in self.entries[keep : self.hi] if e.widget is not None]
            self.remove_children([e.widget for e in gone if e.widget is not None])
            for entry in gone:
                entry.keep()
            self.hi = keep
            self._edges()

    async def _let_go(self, lo: int, hi: int) -> None:
        """Take away the widgets of ``entries[lo:hi]`` (the entries stay)."""
        gone = [e for e in self.entries[lo:hi] if e.widget is not None]
        await self.remove_children([e.widget for e in gone if e.widget is not None])
        for entry in gone:
            entry.keep()

    def _streaming_end(self) -> int:
        """Past the last drawn reply that streams (never let go of), else 0."""
        for index in range(self.hi - 1, self.lo - 1, -1):
            widget = self.entries[index].widget
            if isinstance(widget, ReplyView) and widget.streaming:
                return index + 1
        return 0

    def _keep_place(self, height: int, y: float) -> None:
        y += self.virtual_size.height - height
        self.scroll_to(y=y, animate=False, immediate=True, release_anchor=False)
        self._trim_below()
        self._placing = False
        self.call_after_refresh(self.check_edges)
        self.call_after_refresh(self._ahead)

    def _ahead(self) -> None:
        """Draw, while nothing else happens, the entries the next step up and down would
        draw, so that the key asking for them does not wait for their Markdown."""
        width = next(
            (w.content_region.width for w in self.children if isinstance(w, MarkdownText)), 0
        )
        if width > 0:
            near = [*self.entries[max(0, self.lo - self.STEP) : self.lo]]
            near += self.entries[self.hi : self.hi + self.STEP]
            sources = [e.source for e in reversed(near) if e.source is not None]
            # a function, not a coroutine: none is left unawaited if a newer one replaces it
            work = functools.partial(self._draw_ahead, sources, width)
            self.run_worker(work, group="ahead", exclusive=True)  # type: ignore[arg-type]

    async def _draw_ahead(self, sources: list[str], width: int) -> None:
        for source in sources:
            await asyncio.sleep(0)
            drawn(source, self.latex, width)

    async def take(
        self, asked: ChatLog.NeedMessages, records: Sequence[api.MessageInfo], total: int
    ) -> None:
        """The page of messages fetched for ``asked``; ``total`` is the chat's count."""
        full = len(records) == asked.limit
        if asked.where in ("first", "last"):
            rest = max(0, total - len(records)) if full else 0
            await self.show(
                records,
                0 if asked.where == "first" else rest,
                rest if asked.where == "first" else 0,
            )
            return
        entries = [entry_of(r) for r in records]
        if asked.where == "older":
            self.entries[:0] = entries
            self.lo, self.hi = self.lo + len(entries), self.hi + len(entries)
            self.above = max(0, self.above - len(entries)) if full else 0
        else:
            self.entries.extend(entries)
            self.below = max(0, self.below - len(entries)) if full else 0
        self._edges()
        if entries:
            await self._grow(-1 if asked.where == "older" else 1)

    def fetched(self) -> None:
        """The fetch for :class:`NeedMessages` ended (with :meth:`take` or without)."""
        self._asking = False

    def older_done(self) -> None:
        """Kept for the app of before: as :meth:`fetched`."""
        self.fetched()

    def action_top(self) -> None:
        """g: the top of what is drawn (where older messages are drawn or fetched)."""
        self.scroll_home(animate=False, immediate=True)

    def action_first(self) -> None:
        """Home: the chat's first message."""
        if self.above:
            self._ask("first")
            return
        self.run_worker(self._jump_to(0, top=True), group="window", exclusive=True)

    def action_last(self) -> None:
        """End, G: the chat's last message (and follow the end again)."""
        if self.below:
            self._ask("last")
            return
        self.run_worker(self._jump_to(len(self.entries), top=False), group="window", exclusive=True)

    async def _jump_to(self, index: int, *, top: bool) -> None:
        """Draw the entries from ``index`` down (``top``) or up to it, and show that end."""
        if top and self.lo != 0:
            await self._draw(0, min(len(self.entries), self.STEP))
        elif not top and self.hi != len(self.entries):
            await self._draw(max(0, index - self.STEP), index)
        if top:
            self.scroll_home(animate=False, immediate=True)
        else:
            self.anchor()
            self.scroll_end(animate=False, immediate=True)

    async def _around(self, index: int) -> None:
        """Draw a window of entries with ``entries[index]`` in it, unless it is drawn."""
        if not self.lo <= index < self.hi:
            lo = max(0, index - self.STEP // 2)
            await self._draw(lo, min(len(self.entries), lo + self.STEP))
            await self._refreshed()

    async def _refreshed(self) -> None:
        """Until the log was laid out again."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def settle() -> None:
            if not done.done():
                done.set_result(None)

        self.call_after_refresh(settle)
        await done

    async def _reach_end(self) -> None:
        """Before something is added at the end: draw the end of the chat. When the log
        does not hold the newest messages, it lets go of what it holds (the app's page
        brings them back when scrolled up to)."""
        if self.below:
            self.above += len([e for e in self.entries if e.kind in ("user", "reply")])
            self.above += self.below
            for entry in self.entries[self.lo : self.hi]:
                entry.keep()
            await self.remove_children()
            self.entries, self.lo, self.hi, self.below = [], 0, 0, 0
            await self.mount_all([self._top, self._bottom])
            self._edges()
        elif self.hi != len(self.entries):
            await self._draw(max(0, len(self.entries) - self.STEP), len(self.entries))
        self.anchor()

    async def _add(self, entry: Entry) -> Widget:
        await self._reach_end()
        self.entries.append(entry)
        widget = entry.make(self.hit_style, self.images)
        await self.mount(widget, before=self._bottom)
        self.hi = len(self.entries)
        if self.hi - self.lo > self.WINDOW + self.STEP and not self._placing:
            await self._trim_top()
        return widget

    async def _trim_top(self) -> None:
        keep = self.hi - self.WINDOW
        await self._let_go(self.lo, keep)
        self.lo = keep
        self._edges()

    async def add_user(
        self,
        text: str,
        message_id: int | None = None,
        when: float | None = None,
        images: Sequence[ImageRef] = (),
    ) -> Widget:
        # a UserMessage, or a WithImages holding one when the message has images
        return await self._add(Entry("user", text, message_id, when, images=list(images)))

    async def add_reply(self, **fields: Any) -> ReplyView:
        status = fields.get("status", "complete")
        entry = Entry(
            "reply",
            fields.get("text", ""),
            fields.get("message_id"),
            fields.get("when"),
            provider=fields.get("provider", ""),
            model=fields.get("model", ""),
            status=status,
            error=fields.get("error", ""),
        )
        widget = await self._add(entry)
        assert isinstance(widget, ReplyView)
        return widget

    async def add_notice(self, text: str, *, markdown: bool = False, error: bool = False) -> None:
        """Something the client says (command output, hints), apart from the chat."""
        await self._add(Entry("notice", text, markdown=markdown, failed=error))

    async def add_hits(self, query: str, hits: list[api.SearchHit]) -> None:
        """The hits of a `/search`, each a line that opens it (:class:`SearchHits.Open`)."""
        await self._add(Entry("hits", query, hits=hits))

    def shown_reply(self) -> ReplyView | StoredReply | None:
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
        self._find(1)

    def action_next_match(self, step: int) -> None:
        if not self.finding:
            self.post_message(self.Said("nothing searched for yet: / searches"))
            return
        self._find(step)

    def _find(self, step: int) -> None:
        """Search in a worker: the entries' text is looked through off the event loop,
        so that keys typed meanwhile are taken as usual."""
        self.run_worker(self._jump(step), group="find", exclusive=True)

    async def _jump(self, step: int) -> None:
        """The next match (``step`` 1) or the previous: in what is drawn, else in the
        entries held beyond it (drawn then around the match), round to the other end."""
        query = self.finding
        texts = [entry.searched for entry in self.entries]
        counts = await asyncio.to_thread(_counts, texts, query)
        rows = rows_of(self)
        hits = find_all(rows, query)
        here = self._hit_key(rows)
        ahead = [h for h in hits if (h.key(rows) > here if step > 0 else h.key(rows) < here)]
        hit: Hit | None = (ahead[0] if step > 0 else ahead[-1]) if ahead else None
        wrapped = False
        if hit is None:
            hit, wrapped, rows, hits = await self._jump_beyond(step, counts)
        if hit is None and hits:
            hit, wrapped = (hits[0] if step > 0 else hits[-1]), True
        if hit is None:
            self._hit = None
            self._show_marks(rows)
            self.post_message(self.Said(f"no match for '{query}'"))
            return
        row = rows[hit.row]
        self._hit = (row.widget, row.line, hit.start)
        self._show_marks(rows)
        self._bring_into_view(row.y)
        before = sum(counts[: self.lo]) + hits.index(hit)
        total = sum(counts[: self.lo]) + len(hits) + sum(counts[self.hi :])
        where = f"match {before + 1} of {total} for '{query}'"
        self.post_message(self.Said(where + (" (search wrapped)" if wrapped else "")))

    async def _jump_beyond(
        self, step: int, counts: list[int]
    ) -> tuple[Hit | None, bool, list[Row], list[Hit]]:
        """The first match in the entries beyond what is drawn, in the direction of
        ``step`` and then round: the match, whether it wrapped, and the rows and matches
        drawn then."""
        lo, hi, size = self.lo, self.hi, len(self.entries)
        if step > 0:
            order = [*range(hi, size), *range(0, lo)]
        else:
            order = [*range(lo - 1, -1, -1), *range(size - 1, hi - 1, -1)]
        for index in (i for i in order if counts[i]):
            await self._around(index)
            rows = rows_of(self)
            hits = find_all(rows, self.finding)
            widget = self.entries[index].widget
            inside = [
                h for h in hits if widget in (rows[h.row].widget, *rows[h.row].widget.ancestors)
            ]
            if inside:
                hit = inside[0] if step > 0 else inside[-1]
                return hit, (index < lo) if step > 0 else (index >= hi), rows, hits
        rows = rows_of(self)
        return None, False, rows, find_all(rows, self.finding)

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
        styles = marks_for(self.app.no_color)
        hit, selected, copied = (
            self._current_hit(rows),
            self._selected(rows),
            self._copied_rows(rows),
        )
        mark(rows, hit, selected, copied, styles)

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

    def first_id(self) -> int | None:
        """The id of the oldest message held."""
        return self._first_id()

    async def reveal(self, message_id: int) -> bool:
        """Draw the message ``message_id`` and scroll it to the top of the view; False
        when the log does not hold it."""
        index = next(
            (i for i, entry in enumerate(self.entries) if entry.message_id == message_id), None
        )
        if index is None:
            return False
        self.anchor(False)
        await self._around(index)
        for widget in [*self.query(UserMessage), *self.replies()]:
            if widget.message_id == message_id:
                self.scroll_to_widget(widget, animate=False, top=True)
                return True
        return True

    def cursor_message_id(self) -> int | None:
        """The stored id of the message at the cursor (the visual-mode line, else the
        search match), if there is one."""
        rows = rows_of(self)
        row = self._cursor_row(rows)
        node: DOMNode | None = rows[row].widget if row is not None else None
        while node is not None and not isinstance(node, UserMessage | ReplyView | StoredReply):
            node = node.parent
        return getattr(node, "message_id", None)

    def replies(self) -> list[ReplyView | StoredReply]:
        """The replies drawn, in order."""
        return [w for w in self.children if isinstance(w, ReplyView | StoredReply)]

    def users(self) -> list[Entry]:
        """The user's messages held (``text``, ``message_id``), drawn or not."""
        return [entry for entry in self.entries if entry.kind == "user"]
