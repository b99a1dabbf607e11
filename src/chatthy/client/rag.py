"""The client side of the document store (RAG): reading what ``chatthy rag add`` and
``/rag add`` are given, sending it with progress, and how documents and hits read.

Local files are read here, as ``ws add`` reads them (a folder's ``.gitignore`` kept,
binary files skipped, a PDF as the text of its pages) and named as it names them, a batch
at a time (:func:`batches`: up to 64 files, about 1 MB): a folder of ten thousand files is
listed first, by path only, and each batch is read just before it is sent, and let go
after. Before a batch's text is sent the server is asked which of its files it
holds with that very text (``rag_has_many``, by sha256), so an ingest run again, after a
failure or Ctrl-C, sends only what is new or changed; the rest go in one
``rag_add_many``, which the server stores several to a write (many small files went
three times faster so than one by one). URLs and ``arxiv:ID`` are fetched by the server
(``rag_fetch``), one at a time.

One document that fails (too large, a PDF without text, an unreachable URL) is one line
and the others go on; the server stores each document whole or not at all, so stopping
between two batches leaves nothing half-stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from chatthy.client.commands import connect
from chatthy.client.core import Client
from chatthy.client.settings import Settings
from chatthy.client.workspace import _named_files, _read, expand
from chatthy.errors import ArgumentError, ChatthyError, ServerUnavailableError
from chatthy.wire import api
from chatthy.wire.api.rag import SearchMode

__all__ = [
    "BATCH_FILES",
    "BarProgress",
    "Ingest",
    "IngestReport",
    "Item",
    "LineProgress",
    "Progress",
    "add_command",
    "batches",
    "format_document",
    "format_documents",
    "format_hits",
    "hit_to_workspace",
    "is_remote",
    "plan",
    "search_command",
    "search_request",
    "text_digest",
    "workspace_name",
]

QUERY_MAX = 2000
"""The longest query ``rag_search`` and ``chat``'s ``rag`` take, in characters."""


def text_digest(text: str) -> str:
    """The sha256 of ``text``'s UTF-8 bytes in hex: what ``rag_has`` compares (the
    server computes the same of what it stored)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def is_remote(target: str) -> bool:
    """Whether ``target`` is for the server to fetch: an http(s) URL or ``arxiv:ID``."""
    lowered = target.lower()
    return lowered.startswith(("http://", "https://")) or (
        lowered.startswith("arxiv:") and len(target) > len("arxiv:")
    )


@dataclass(frozen=True, slots=True)
class Item:
    """One document to add: a local file (``path``, stored as ``name``) or a target the
    server fetches (``path`` None, ``name`` the URL or ``arxiv:ID``)."""

    name: str
    path: Path | None = None


@dataclass(slots=True)
class Plan:
    """What :func:`plan` found to add, and a line for each target it could not use."""

    items: list[Item] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def plan(targets: Sequence[str]) -> Plan:
    """The documents ``targets`` name, in order, none read yet: URLs and ``arxiv:ID`` as
    they are; files, folders (their files, ``.gitignore`` kept) and glob patterns as
    ``ws add`` names them. A path that does not exist (a pattern that matches nothing) is
    a problem line, and the others are still planned."""
    found = Plan()
    named: set[str] = set()
    for target in targets:
        if is_remote(target):
            found.items.append(Item(target))
            continue
        try:
            expanded = expand([Path(target).expanduser()])
        except ArgumentError as exc:
            found.problems.append(f"skipped {target}: {exc.message}")
            continue
        for path, root in expanded:
            for file, name in _named_files(path, root):
                if name not in named:  # a pattern may match a folder and its files
                    named.add(name)
                    found.items.append(Item(name, file))
    return found


@dataclass(slots=True)
class IngestReport:
    """How an ingest went: documents stored, skipped (stored unchanged already) and
    failed, the chunks stored, and whether it was stopped before its end."""

    total: int = 0
    added: int = 0
    skipped: int = 0
    failed: int = 0
    chunks: int = 0
    interrupted: bool = False
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.added + self.skipped + self.failed

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def summary(self) -> str:
        """One line: what was stored, skipped and failed, in how long."""
        seconds = self.seconds
        rate = f", {self.chunks / seconds:,.0f} chunks/s" if self.chunks and seconds > 0 else ""
        parts = [
            f"added {self.added} document{'s' * (self.added != 1)} ({self.chunks:,} chunks)",
            f"{self.skipped} unchanged",
        ]
        if self.failed:
            parts.append(f"{self.failed} failed")
        line = ", ".join(parts) + f" in {seconds:.1f} s{rate}"
        if self.interrupted:
            line = f"interrupted after {self.done} of {self.total}: {line}"
        return line

    def exit_code(self) -> int:
        """130 when stopped by Ctrl-C; else 1 only when nothing at all was added or
        skipped."""
        if self.interrupted:
            return 130
        return 0 if self.added or self.skipped else 1


class Progress(Protocol):
    """Where an ingest says how it goes."""

    def begin(self, report: IngestReport) -> None:
        """The ingest starts (``report.total`` documents)."""

    def step(self, report: IngestReport, name: str) -> None:
        """Document ``name`` is done (stored, skipped or failed): ``report`` counts it."""

    def problem(self, line: str) -> None:
        """A document that could not be added: one line."""

    def end(self, report: IngestReport) -> None:
        """The ingest is over (or was stopped)."""


class LineProgress:
    """No bar (stderr is not a terminal, or a client's command): each problem one line
    on ``err``, nothing more."""

    def __init__(self, err: IO[str]) -> None:
        self.err = err

    def begin(self, report: IngestReport) -> None:
        return

    def step(self, report: IngestReport, name: str) -> None:
        return

    def problem(self, line: str) -> None:
        self.err.write(line + "\n")
        self.err.flush()

    def end(self, report: IngestReport) -> None:
        return


class BarProgress:
    """A progress bar on a terminal (rich): files done of all, the chunks stored, their
    rate and the time left; a problem is printed above the bar."""

    def __init__(self, console: Any | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.console = console or Console(stderr=True)
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files · {task.fields[chunks]:,} chunks · {task.fields[rate]} chunks/s"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.task: Any = None

    def begin(self, report: IngestReport) -> None:
        self.bar.start()
        self.task = self.bar.add_task("adding", total=report.total, chunks=0, rate="–")

    def step(self, report: IngestReport, name: str) -> None:
        seconds = report.seconds
        rate = f"{report.chunks / seconds:,.0f}" if seconds > 0 else "–"
        self.bar.update(self.task, completed=report.done, chunks=report.chunks, rate=rate)

    def problem(self, line: str) -> None:
        self.bar.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def end(self, report: IngestReport) -> None:
        self.bar.stop()


class Ingest:
    """Adding documents over ``client``, local files in batches; :meth:`stop` makes it
    end after the batch being sent (Ctrl-C)."""

    def __init__(self, client: Client, progress: Progress, *, batch: int | None = None) -> None:
        self.client = client
        self.progress = progress
        self.batch = max(1, min(batch or BATCH_FILES, api.MANY))
        """Files sent in one ``rag_add_many`` at most."""
        self.stopping = False
        self.report = IngestReport()
        """What was done so far (read after a failure too)."""

    def stop(self) -> None:
        self.stopping = True

    async def run(self, found: Plan) -> IngestReport:
        """Add the documents of ``found``; its problems count as failed.

        Local files go in batches (:func:`batches`), each read in a worker thread just
        before it is sent.

        Raises:
            ServerUnavailableError: the server stopped answering (what was done is in
                the progress already).
        """
        report = self.report = IngestReport(total=len(found.items) + len(found.problems))
        self.progress.begin(report)
        try:
            for line in found.problems:
                report.failed += 1
                self.progress.problem(line)
            for group in batches(found.items, self.batch):
                if self.stopping:
                    break
                if group[0].path is None:  # a URL or arXiv paper: fetched by the server
                    await self._fetch(group[0], report)
                    continue
                await self._send(await asyncio.to_thread(_read_all, group), report)
            if self.stopping and report.done < report.total:
                report.interrupted = True
        finally:
            self.progress.end(report)
        return report

    async def _fetch(self, item: Item, report: IngestReport) -> None:
        try:
            added = await self.client.rpc(api.RagFetch(target=item.name))
        except ServerUnavailableError:
            raise
        except ChatthyError as exc:
            self._failed(report, item, exc.message)
            return
        self._done(report, item, added.document, added.skipped)

    async def _send(self, read: list[_Read], report: IngestReport) -> None:
        """A batch of files read: those stored unchanged skipped (``rag_has_many``), the
        rest sent in one ``rag_add_many``."""
        going: list[tuple[Item, str]] = []
        for item, text, why in read:
            if text is None:
                self._failed(report, item, why)
            else:
                going.append((item, text))
        if not going:
            return
        try:
            have = await self.client.rpc(
                api.RagHasMany(
                    documents=[
                        api.RagDigest(name=item.name, digest=text_digest(text))
                        for item, text in going
                    ]
                )
            )
            for (item, _), stored in zip(going, have, strict=True):
                if stored:
                    report.skipped += 1
                    self.progress.step(report, item.name)
            going = [pair for pair, stored in zip(going, have, strict=True) if not stored]
            if not going:
                return
            call = api.RagAddMany(
                documents=[
                    api.RagText(
                        name=item.name, text=text, source=str(Path(item.path or "").resolve())
                    )
                    for item, text in going
                ]
            )
            outcomes = await self.client.rpc(call)
        except ServerUnavailableError:
            raise
        except ChatthyError as exc:  # the whole batch refused (over quota, too large)
            for item, _ in going:
                self._failed(report, item, exc.message)
            return
        for (item, _), outcome in zip(going, outcomes, strict=True):
            if outcome.document is None:
                self._failed(report, item, outcome.error or "not stored")
            else:
                self._done(report, item, outcome.document, outcome.skipped)

    def _failed(self, report: IngestReport, item: Item, why: str) -> None:
        report.failed += 1
        self.progress.problem(f"skipped {item.path or item.name}: {why}")
        self.progress.step(report, item.name)

    def _done(
        self, report: IngestReport, item: Item, document: api.RagDocumentInfo, skipped: bool
    ) -> None:
        if skipped:
            report.skipped += 1
        else:
            report.added += 1
            report.chunks += document.chunks
        self.progress.step(report, item.name)


BATCH_FILES = 64
"""The most files one ``rag_add_many`` carries."""
BATCH_BYTES = 1_000_000
"""About the most bytes of text one batch carries (a larger file goes alone): well under
the server's ``max_body``, and about half a second of the server's work."""


def batches(items: Sequence[Item], most: int = BATCH_FILES) -> Iterator[list[Item]]:
    """``items`` in order, as batches of local files of at most ``most`` and about
    :data:`BATCH_BYTES` (by their size on disk; a PDF's text is smaller), and each URL or
    arXiv paper alone."""
    group: list[Item] = []
    held = 0
    for item in items:
        if item.path is None:
            if group:
                yield group
                group, held = [], 0
            yield [item]
            continue
        try:
            size = item.path.stat().st_size
        except OSError:
            size = 0  # reading it says why
        if group and (len(group) >= most or held + size > BATCH_BYTES):
            yield group
            group, held = [], 0
        group.append(item)
        held += size
    if group:
        yield group


_Read = tuple[Item, str | None, str]
"""A file of a batch: its text, or None and why not."""


def _read_all(group: list[Item]) -> list[_Read]:
    """Each file's text, as ``ws add`` reads it, or why it cannot be used; in a thread."""
    out: list[_Read] = []
    for item in group:
        assert item.path is not None
        text, why = _read(item.path, str(item.path))
        out.append((item, text, why.removeprefix(f"skipped {item.path}: ")))
    return out


async def add_command(
    settings: Settings,
    targets: Sequence[str],
    out: IO[str],
    err: IO[str],
    *,
    bar: bool | None = None,
    batch: int | None = None,
) -> int:
    """``chatthy rag add TARGET…``: add them with a progress bar when ``err`` is a
    terminal (``bar`` decides when given), then print the summary line on ``out``;
    ``batch`` files at most to a request. Ctrl-C stops after the batch being sent.
    Returns the exit status.

    Raises:
        ChatthyError: the server cannot be reached or refused the profile.
    """
    found = await asyncio.to_thread(plan, targets)
    show_bar = err.isatty() if bar is None else bar
    progress: Progress = BarProgress() if show_bar else LineProgress(err)
    async with connect(settings) as client:
        ingest = Ingest(client, progress, batch=batch)
        try:
            with _stopped_by_ctrl_c(ingest):
                report = await ingest.run(found)
        except ServerUnavailableError:
            if ingest.report.done:  # what was stored stays stored: run it again to resume
                out.write(ingest.report.summary() + "\n")
            raise
    out.write(report.summary() + "\n")
    out.flush()
    return report.exit_code()


@contextlib.contextmanager
def _stopped_by_ctrl_c(ingest: Ingest) -> Iterator[None]:
    """While inside, Ctrl-C (SIGINT) asks ``ingest`` to stop after the batch being
    sent; a second one interrupts at once (the server still stores all or nothing)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def interrupted() -> None:
        if ingest.stopping and task is not None:
            task.cancel()
            return
        ingest.stop()
        sys.stderr.write("\nstopping after the documents being sent (Ctrl-C again: at once)\n")
        sys.stderr.flush()

    try:
        loop.add_signal_handler(signal.SIGINT, interrupted)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, Windows
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def search_request(
    query: str, *, limit: int = 10, mode: str = "hybrid", provider: str | None = None
) -> api.RagSearch:
    """The ``rag_search`` call for ``query`` (cut to what the server takes).

    Raises:
        ArgumentError: an empty query, a limit out of 1–100, an unknown mode.
    """
    query = " ".join(query.split())[:QUERY_MAX]
    if not query:
        raise ArgumentError("what to search for is needed")
    if not 1 <= limit <= 100:
        raise ArgumentError(f"--limit is 1 to 100, not {limit}")
    modes: dict[str, SearchMode] = {"hybrid": "hybrid", "bm25": "bm25", "vector": "vector"}
    chosen = modes.get(mode)
    if chosen is None:
        raise ArgumentError(f"the mode is hybrid, bm25 or vector, not '{mode}'")
    return api.RagSearch(query=query, limit=limit, mode=chosen, provider=provider or None)


async def search_command(
    settings: Settings,
    query: str,
    out: IO[str],
    err: IO[str],
    *,
    limit: int = 10,
    mode: str = "hybrid",
    provider: str | None = None,
    to_ws: bool = False,
) -> int:
    """``chatthy rag search QUERY…``: the numbered hits on ``out``; with ``to_ws`` each
    one added to the workspace too (a line each; one refused is a line on ``err``).
    Returns the exit status: 1 when a hit could not be added.

    Raises:
        ChatthyError: a bad query, the server cannot be reached or refused.
    """
    call = search_request(query, limit=limit, mode=mode, provider=provider)
    failed = False
    async with connect(settings) as client:
        hits = await client.rpc(call)
        out.write(format_hits(call.query, hits) + "\n")
        for number, hit in enumerate(hits if to_ws else [], 1):
            try:
                added = await hit_to_workspace(client, hit)
            except ServerUnavailableError:
                raise
            except ChatthyError as exc:
                failed = True
                err.write(f"hit {number} not added to the workspace: {exc.message}\n")
                continue
            out.write(
                f"hit {number} added to the workspace as {added.name} ({added.tokens:,} tokens)\n"
            )
    return 1 if failed else 0


# ---- how documents and hits read ---------------------------------------------------


def _when(value: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(value)) if value else "-"


def format_documents(documents: list[api.RagDocumentInfo]) -> str:
    """One line per document: name, chunks, size, when, source; then the totals."""
    if not documents:
        return "no documents: chatthy rag add PATH|URL|arxiv:ID… stores some"
    width = max(len(d.name) for d in documents)
    lines = [
        f"{d.name:<{width}}  {d.chunks:>6,} chunks  {d.bytes:>11,} B  {_when(d.updated)}"
        f"  {d.source}".rstrip()
        for d in documents
    ]
    chunks = sum(d.chunks for d in documents)
    lines.append(f"{len(documents)} document(s), {chunks:,} chunks")
    return "\n".join(lines)


def format_document(info: api.RagDocumentInfo) -> str:
    """A document's record and its chunks' headings, numbered."""
    lines = [
        info.name,
        f"  source    {info.source or '-'}",
        f"  size      {info.bytes:,} bytes, {info.chunks:,} chunks",
        f"  embedder  {info.embedder or '-'}",
        f"  added     {_when(info.created)}, changed {_when(info.updated)}",
    ]
    if info.headings:
        lines.append("  chunks:")
        lines += [f"  {n:>5}. {h or '(no heading)'}" for n, h in enumerate(info.headings, 1)]
    return "\n".join(lines)


def format_hits(query: str, hits: list[api.RagHit], *, first_lines: int = 2) -> str:
    """Numbered hits: document — heading, score, which searches ranked it, then the
    first lines of the chunk."""
    if not hits:
        return f"nothing found for '{query}'"
    lines = [f"{len(hits)} hit(s) for '{query}':"]
    for number, hit in enumerate(hits, 1):
        heading = f" — {hit.heading}" if hit.heading else ""
        by = f" [{', '.join(hit.ranked_by)}]" if hit.ranked_by else ""
        lines.append(f"{number:>3}. {hit.document}{heading}  ({hit.score:.4g}){by}")
        shown = [line.strip() for line in hit.text.splitlines() if line.strip()]
        shown = [s for s in shown if s.lstrip("#").strip() != hit.heading] or shown
        for line in shown[:first_lines]:
            lines.append(f"     {line[:100]}{'…' if len(line) > 100 else ''}")
    return "\n".join(lines)


_UNSAFE = re.compile(r"[\\/\s\x00-\x1f\x7f]+")


def workspace_name(hit: api.RagHit) -> str:
    """The workspace file a hit goes into: ``rag-DOCUMENT-N``, N its chunk's place in the
    document from 1 (the same chunk added twice is one file), slashes and spaces as
    ``-``."""
    document = _UNSAFE.sub("-", hit.document).strip("-.") or "document"
    return f"rag-{document[:180]}-{hit.chunk + 1}"


async def hit_to_workspace(client: Client, hit: api.RagHit) -> api.WorkspaceFile:
    """Add ``hit``'s chunk to the workspace (replacing the file of its name), its heading
    first, the document as its source.

    Raises:
        ChatthyError: the server refused (too large, over quota) or cannot be reached.
    """
    text = hit.text
    if hit.heading and hit.heading not in text:
        text = f"# {hit.heading}\n\n{text}"
    source = hit.document if not hit.source else f"{hit.document} ({hit.source})"
    return await client.rpc(api.WsAdd(name=workspace_name(hit), text=text, source=source))
