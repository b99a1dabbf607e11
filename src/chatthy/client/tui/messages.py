"""What the output shows of a chat: the user's messages, replies, notices and `/search`
hits as widgets, and each as an :class:`Entry` — the few fields a widget is made again
from, so that only the messages near the view need widgets."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Collapsible, Markdown, Static

from chatthy.client.image_view import ImageRef, image_parts, without_images
from chatthy.client.tools import ToolCallInfo, ToolResultInfo, has_tools, parts_of
from chatthy.client.tui.images import ImageBlock, ImageSource, WithImages
from chatthy.client.tui.live import LiveMarkdown
from chatthy.client.tui.render import MarkdownText
from chatthy.client.tui.tools import ToolBox
from chatthy.wire import api

__all__ = [
    "Entry",
    "HitLine",
    "ReplyView",
    "SearchHits",
    "StoredReply",
    "UserMessage",
    "entry_of",
    "pieces_of",
    "quote",
    "text_of",
    "when_text",
]

_MARKS = {
    "cancelled": "⊘ cancelled",
    "truncated": "✂ cut off at the token limit",
    "interrupted": "⚠ interrupted (the server stopped)",
    "error": "✗ error",
    "streaming": "… streaming",
}

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


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
    """``text`` as a Markdown block quote that keeps its lines as typed: each line but
    the last ends in a hard break, except inside code fences and around blank lines."""
    lines = text.splitlines() or [""]
    out, fence = [], ""
    for index, line in enumerate(lines):
        opening = _FENCE.match(line)
        if fence:
            if line.strip().startswith(fence) and set(line.strip()) == {fence[0]}:
                fence = ""
        elif opening:
            fence = opening.group(1)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        breaks = not fence and not opening and line.strip() and following.strip()
        out.append((f"> {line}" if line else ">") + ("  " if breaks else ""))
    return "\n".join(out)


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


def _footer(meta: str, when: float, status: str, error: str) -> str:
    """A reply's footer: provider and model, time, and how it ended unless complete."""
    parts = [p for p in (meta, when_text(when)) if p]
    if status != "complete":
        parts.append(_MARKS.get(status, status))
    if error:
        parts.append(error)
    return " · ".join(parts)


def _footer_style(status: str) -> str:
    if status == "error":
        return "$error"
    return "$warning" if status in ("cancelled", "interrupted", "truncated") else "$text-muted"


class StoredReply(MarkdownText):
    """A reply that no longer changes, drawn from the store: one widget, its footer
    (provider, model, time, how it ended) drawn under its text. A chat shows many, and
    each widget costs the layout of every page drawn; a reply that streams is a
    :class:`ReplyView` until it is let go of."""

    DEFAULT_CSS = """
    StoredReply { margin: 1 0 0 0; }
    """

    streaming = False

    def __init__(
        self,
        text: str,
        *,
        provider: str = "",
        model: str = "",
        when: float | None = None,
        status: str = "complete",
        error: str = "",
        message_id: int | None = None,
    ) -> None:
        self.when = when or time.time()
        self.meta = f"{provider}:{model}" if model else provider
        super().__init__(
            text,
            classes="body",
            footer=_footer(self.meta, self.when, status, error),
            footer_style=_footer_style(status),
        )
        self.text = text
        self.provider, self.model = provider, model
        self.status, self.error = status, error
        self.message_id = message_id


class Reasoning(Collapsible):
    """A reply's reasoning, folded once the reply ends. Folding it does not pull the view
    to it (a Collapsible scrolls itself into view when toggled): a reader following the
    end of the chat stays there."""

    def scroll_visible(self, *args: Any, **kwargs: Any) -> None:
        if not self.collapsed:
            super().scroll_visible(*args, **kwargs)


Piece = str | ToolCallInfo | ToolResultInfo | ImageRef
"""A reply's content in order: text, a tool call, a call's result, an image."""


def text_pieces(pieces: list[Piece]) -> str:
    """The text of a reply that ran tools (what is copied and searched)."""
    return "\n\n".join(p for p in pieces if isinstance(p, str) and p)


class ReplyView(Vertical):
    """One reply: reasoning (dimmed, collapsible, only once there is some), the text, and a
    footer with provider, model, time and how it ended. A reply that streams is a
    :class:`LiveMarkdown`, which redraws only its last block; a stored or finished one is
    a :class:`MarkdownText`, drawn once. A reply that runs tools is its pieces in order:
    text, each call folded (:class:`ToolBox`), text again; while it streams, the text
    before a call is drawn as finished and what follows streams below the call."""

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
        pieces: list[Piece] | None = None,
        images: ImageSource | None = None,
    ) -> None:
        super().__init__()
        self.images = images
        """Where the bytes of its images come from (a reply that holds some)."""
        given = list(pieces) if pieces else []
        last = given[-1] if given and isinstance(given[-1], str) else ""
        ends_in_text = bool(given) and isinstance(given[-1], str)
        self._settled: list[Piece] = given[:-1] if ends_in_text else given
        """The pieces before the text that streams (or was streamed) last."""
        self.text = text_pieces(given) if pieces else text
        self._start = len(self.text) - len(last) if pieces else 0
        """Where the last text (the live or last text widget's) starts in ``text``."""
        self._boxes: dict[str, ToolBox] = {}
        self.provider, self.model = provider, model
        self.meta = f"{provider}:{model}" if model else provider
        self.when = when or time.time()
        self.status = status
        self.error = error
        self.message_id = message_id
        self._live = LiveMarkdown(self.segment) if status == "streaming" else None
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

    class Folded(Message):
        """The reply ended and its reasoning was folded away: the output is shorter."""

    @property
    def streaming(self) -> bool:
        return self._live is not None

    @property
    def segment(self) -> str:
        """The text after the last call (all of it in a reply without calls)."""
        return self.text[self._start :]

    @property
    def pieces(self) -> list[Piece]:
        """What the reply holds in order (kept by its entry when the widget goes)."""
        segment = self.segment
        return [*self._settled, segment] if segment else list(self._settled)

    def compose(self) -> ComposeResult:
        yield from self._earlier()
        yield self._live or MarkdownText(self.segment, classes="body")
        yield Static(Content(self._footer()), classes="footer")

    def _earlier(self) -> ComposeResult:
        """The pieces before the last text: text, calls (each with its result), images."""
        results = {p.call_id: p for p in self._settled if isinstance(p, ToolResultInfo)}
        for piece in self._settled:
            if isinstance(piece, str) and piece:
                yield MarkdownText(piece, classes="body")
            elif isinstance(piece, ImageRef):
                yield ImageBlock(piece, self.images)
            elif isinstance(piece, ToolCallInfo):
                result = results.get(piece.id)
                box = ToolBox(piece, result)
                self._boxes[piece.id] = box
                yield box
                for image in result.images if result is not None else ():
                    yield ImageBlock(image, self.images)

    def _footer(self) -> str:
        return _footer(self.meta, self.when, self.status, self.error)

    def add_text(self, text: str) -> None:
        """More of the reply's text (ignored once it has finished)."""
        if self._live is not None:
            self.text += text
            self._live.append(text)

    async def add_reasoning(self, text: str) -> None:
        if self._thinking is None:
            self._thinking = LiveMarkdown(classes="reasoning")
            box = Reasoning(self._thinking, title="reasoning", collapsed=False)
            await self.mount(box, before=0)
        self._thinking.append(text)

    async def add_call(self, call: ToolCallInfo) -> None:
        """The model asked for a tool: the text so far is drawn as finished, the call
        (folded) under it, and the text that follows streams under the call."""
        if self._live is None:
            return
        segment = self.segment
        await self._settle_live()
        if segment:
            self._settled.append(segment)
        box = ToolBox(call)
        self._boxes[call.id] = box
        self._settled.append(call)
        footer = self.query_one(".footer", Static)
        self._live = LiveMarkdown()
        await self.mount_all([box, self._live], before=footer)
        if self.text and not self.text.endswith("\n\n"):
            self.text += "\n\n"
        self._start = len(self.text)

    async def add_result(self, result: ToolResultInfo) -> None:
        """A call's result: its title says how it went; the images it returned are
        drawn under it."""
        self._settled.append(result)
        box = self._boxes.get(result.call_id)
        if box is not None:
            box.set_result(result)
            if result.images:
                blocks = [ImageBlock(image, self.images) for image in result.images]
                await self.mount_all(blocks, after=box)

    async def _settle_live(self, *, keep_empty: bool = False) -> None:
        """Draw the live text as finished (as a stored reply draws it); none at all if
        it is empty, unless ``keep_empty`` (the reply's last text: always there)."""
        if self._live is None:
            return
        live, self._live = self._live, None
        segment = self.segment
        if not segment.strip() and not keep_empty:
            await live.remove()
            return
        text = MarkdownText(segment, classes="body")
        with self.app.batch_update():  # never both on screen, not even for a frame
            await self.mount(text, after=live)
            await live.remove()
        self.post_message(self.Redrawn(live, text))

    async def finish(self, status: str, error: str = "") -> None:
        """The reply ended: mark how, flush the text, fold the reasoning away, and draw
        the text as a stored reply is drawn (LaTeX as Unicode, cheap to keep)."""
        self.status, self.error = status, error
        if self._live is not None:
            await self._settle_live(keep_empty=True)
        if not self.segment and self._settled and self.text.endswith("\n\n"):
            self.text = self.text[:-2]
            self._start = len(self.text)
        self.set_class(status in ("cancelled", "interrupted", "truncated"), "-stopped")
        self.set_class(status == "error", "-failed")
        self.query_one(".footer", Static).update(Content(self._footer()))
        folded = False
        for box in self.query(Reasoning):
            folded = folded or not box.collapsed
            box.collapsed = True
        if folded:
            self.post_message(self.Folded())


def _snippet(text: str, style: str) -> Content:
    """A search snippet, its hits (between ``**``, as the server marks them) in
    ``style``, on one line."""
    pieces = " ".join(text.split()).split("**")
    parts: list[str | tuple[str, str]] = []
    for index, piece in enumerate(pieces):
        parts.append((piece, style) if index % 2 and index < len(pieces) - 1 else piece)
    if len(pieces) % 2 == 0:  # an odd number of marks: the last one was text
        parts[-1] = "**" + pieces[-1]
    return Content.assemble(*parts)


class HitLine(Static, can_focus=True):
    """One `/search` hit: where it is and its snippet. Enter or a click asks the app to
    open it (:class:`SearchHits.Open`)."""

    DEFAULT_CSS = """
    HitLine { height: auto; padding: 0 0 0 2; }
    HitLine:hover { background: $boost; }
    HitLine:focus { background: $accent 30%; text-style: bold; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "open", "Open")]

    def __init__(self, hit: api.SearchHit, style: str) -> None:
        when = time.strftime("%Y-%m-%d", time.localtime(hit.created))
        where = Content(f"{hit.chat} #{hit.message_id} {hit.role} {when}: ")
        super().__init__(Content.assemble(where, _snippet(hit.snippet, style)))
        self.hit = hit

    def action_open(self) -> None:
        self.post_message(SearchHits.Open(self.hit.chat, self.hit.message_id))

    def on_click(self, event: events.Click) -> None:
        self.action_open()


class SearchHits(Vertical):
    """The answer to `/search`: a line saying how many, then a line per hit, the words
    found highlighted (in a style NO_COLOR leaves visible)."""

    DEFAULT_CSS = """
    SearchHits { height: auto; margin: 1 0 0 0; color: $text-muted; }
    """

    class Open(Message):
        """The user chose a hit: the app opens ``chat`` at message ``message_id``."""

        def __init__(self, chat: str, message_id: int) -> None:
            super().__init__()
            self.chat = chat
            self.message_id = message_id

    def __init__(self, query: str, hits: list[api.SearchHit], style: str) -> None:
        super().__init__()
        self.query_text, self.hits, self.style = query, hits, style

    def compose(self) -> ComposeResult:
        count = f"{len(self.hits)} hit{'s' * (len(self.hits) != 1)}"
        yield Static(Content(f"{count} for '{self.query_text}' (Enter or a click opens one):"))
        for hit in self.hits:
            yield HitLine(hit, self.style)


@dataclass
class Entry:
    """One thing the output holds, shown or not: a message (``kind`` user or reply), a
    notice, or search hits. Only the entries near the view have a ``widget``; the others
    are these fields, from which :meth:`make` draws it again."""

    kind: str
    text: str = ""
    message_id: int | None = None
    when: float | None = None
    provider: str = ""
    model: str = ""
    status: str = "complete"
    error: str = ""
    markdown: bool = False
    failed: bool = False
    hits: list[api.SearchHit] = field(default_factory=list)
    pieces: list[Piece] | None = None
    """A reply that ran tools or holds images: its text, calls, results and images in
    order (drawn as a :class:`ReplyView`; one without is a :class:`StoredReply`,
    cheaper)."""
    images: list[ImageRef] = field(default_factory=list)
    """A message of the user's: the images it holds (drawn above its text)."""
    widget: Widget | None = None

    @property
    def searched(self) -> str:
        """The text ``/`` looks in: a message's, not a notice's."""
        return self.text if self.kind in ("user", "reply") else ""

    @property
    def source(self) -> str | None:
        """The Markdown its widget draws, for a message that is drawn as Markdown (a
        reply that streams is not)."""
        if self.kind == "user":
            return quote(self.text)
        if self.kind == "reply" and self.status != "streaming" and not self.pieces:
            return self.text
        return None

    def make(self, hit_style: str, images: ImageSource | None = None) -> Widget:
        """A new widget showing this entry (kept as :attr:`widget`); ``images`` is where
        the bytes of its images come from."""
        widget: Widget
        if self.kind == "user":
            widget = UserMessage(self.text, self.message_id, self.when)
            if self.images:
                widget = WithImages(widget, self.images, images)
        elif self.kind == "reply":
            fields: dict[str, Any] = {
                "provider": self.provider,
                "model": self.model,
                "when": self.when,
                "status": self.status,
                "error": self.error,
                "message_id": self.message_id,
            }
            if self.pieces:  # it ran tools, or holds images: in order between its text
                widget = ReplyView(pieces=self.pieces, images=images, **fields)
            elif self.status == "streaming":
                widget = ReplyView(self.text, **fields)
            else:
                widget = StoredReply(self.text, **fields)
        elif self.kind == "hits":
            widget = SearchHits(self.text, self.hits, hit_style)
        elif self.markdown:
            widget = Markdown(self.text, classes="notice")
        else:
            widget = Static(Content(self.text), classes="notice")
        widget.set_class(self.failed, "-error")
        self.widget = widget
        return widget

    def keep(self) -> None:
        """Take in what the widget learned (a reply that ended: its text, status, id)
        and let it go."""
        view = self.widget
        if isinstance(view, ReplyView):
            self.text, self.status, self.error = view.text, view.status, view.error
            tools = any(not isinstance(p, str) for p in view.pieces)
            self.pieces = list(view.pieces) if tools else None
            self.message_id = view.message_id
            self.when = view.when
        self.widget = None


def pieces_of(content: Any) -> list[Piece]:
    """A stored reply's content in order (text, calls, results, images); the images a
    tool returned are its result's (drawn under its call)."""
    if not isinstance(content, list):
        return list(parts_of(content))
    pieces: list[Piece] = []
    run: list[Any] = []
    for part in content:
        if not (isinstance(part, dict) and part.get("type") == "image_url"):
            run.append(part)
            continue
        pieces.extend(parts_of(run))
        run = []
        pieces.extend(image_parts([part]))
    pieces.extend(parts_of(run))
    return pieces


def entry_of(record: api.MessageInfo) -> Entry:
    """A stored message as an entry."""
    content = record.content
    found = image_parts(content)
    if record.role == "user":
        text = text_of(without_images(content))
        return Entry("user", text, record.id, record.created or None, images=found)
    pieces = pieces_of(content) if found or has_tools(content) else None
    return Entry(
        "reply",
        text_pieces(pieces) if pieces else text_of(record.content),
        record.id,
        record.created or None,
        provider=record.provider,
        model=record.model,
        status=record.status,
        error=record.error,
        pieces=pieces,
    )
