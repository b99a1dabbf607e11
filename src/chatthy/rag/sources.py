"""Documents from the network for ``chatthy rag add URL|arxiv:ID``: a URL read as ``ws url``
reads it (a page's main text, a PDF's text, a text file), or an arXiv paper's LaTeX source
made into one ``.tex``, its PDF's text when the source cannot be used.

Every request goes through the workspace sources' guarded
:class:`~chatthy.workspace.sources.Fetcher` (address guard, one deadline, size cap), and
what it cannot give is a coded error of one line.

An arXiv source (``{arxiv_base}/e-print/ID``) is a gzipped tar of many files, a single
gzipped ``.tex``, or a PDF. :func:`consolidate_latex` turns it into one text, on bytes
alone (no disk, no network, so it is tested on archives built in memory): it finds the
main file, inlines ``\\input``, ``\\include`` and ``\\subfile`` recursively and the
``.bbl`` for ``\\bibliography``, and keeps the authors' comments out, since a comment is
what they chose not to publish (often an earlier draft) and would be found by a search
as if it were the paper. An archive is read member by member and refused, before any
file's data is read, when a member could escape a directory on extraction (an absolute
or ``..`` path, a link, a device) or when its files are too many or too large
unpacked: such an archive is not a paper's source, and the PDF is not tried instead.

Decided: a file the LaTeX asks for that is not in the archive (authors leave out
generated tables, or a file of their own machine), and an inclusion that would include
itself again (a cycle) or go deeper than :data:`MAX_DEPTH`, each leave a one-line note
``% chatthy: …`` where they stood (the only comments in the result) and the rest of the
paper is kept: refusing the paper for one missing table would lose it all.
"""

from __future__ import annotations

import asyncio
import io
import posixpath
import re
import tarfile
import zlib
from dataclasses import dataclass

import msgspec

from chatthy.config import SourcesConfig
from chatthy.errors import (
    ArgumentError,
    NotFoundError,
    SourceBlockedError,
    SourceConnectionError,
    SourceError,
    SourceTimeoutError,
)
from chatthy.workspace.pdf import UnreadablePdf, is_pdf, pdf_text_apart
from chatthy.workspace.sources import Fetcher, fetch_arxiv
from chatthy.workspace.sources.arxiv import arxiv_id
from chatthy.workspace.sources.document import named
from chatthy.workspace.sources.fetch import Fetched
from chatthy.workspace.sources.page import _is_html, _is_text, _main_text, page_name

__all__ = [
    "KINDS",
    "MAX_DEPTH",
    "MAX_MEMBERS",
    "MAX_TEXT",
    "MAX_UNPACKED",
    "LatexRefusedError",
    "NoLatexError",
    "RagDocument",
    "consolidate_latex",
    "fetch_document",
    "strip_comments",
]

KINDS = ("latex", "markdown", "text")
"""What a document's text is written in, for the chunker."""

MAX_MEMBERS = 5000
"""Most files (and folders) an arXiv source archive may hold."""
MAX_UNPACKED = 256 * 1024**2
"""Most bytes its files may hold unpacked, counted from their headers before any is read
(figures count too, though only the LaTeX is kept)."""
MAX_TEXT = 32 * 1024**2
"""Most characters the consolidated LaTeX may have (inlining one file many times over
cannot grow past this)."""
MAX_DEPTH = 16
"""Most inclusions open inside each other (TeX itself allows 15 open files)."""

_KEPT_SUFFIXES = frozenset({"", ".tex", ".ltx", ".latex", ".bbl"})
"""Members worth reading: LaTeX (old sources name the main file without a suffix) and
bibliographies. Figures, styles and BibTeX databases are passed over."""
_README = "00README.json"
"""Where arXiv records a source's top-level file."""
_SIDE_CLASSES = frozenset({"standalone", "subfiles"})
"""Classes of files compiled on their own that are parts of the paper (a TikZ figure, a
chapter), taken as the main file only when nothing else is one."""

_VERBATIM = r"(?s:\\begin\{(?P<env>verbatim\*?|Verbatim|lstlisting|minted)\}.*?\\end\{(?P=env)\})"
_LATEX_TOKENS = re.compile(
    rf"(?P<verbatim>{_VERBATIM})"
    r"|(?P<verb>\\verb\*?(?P<delim>[^A-Za-z\s*]).*?(?P=delim))"
    r"|(?P<block>(?s:\\begin\{comment\}.*?\\end\{comment\}))"
    r"|(?P<comment>(?<!\\)(?P<escapes>(?:\\\\)*)%[^\n]*(?:\n[ \t]*)?)"
)
"""What comment removal must tell apart, leftmost first: verbatim text (a ``%`` there is
printed), a ``comment`` environment, and a comment: ``%`` after an even number of
backslashes, to the end of its line, with the line break and the next line's indent (TeX
reads ``a%⏎ b`` as ``ab``)."""
_INPUT = re.compile(r"\\(input|include|subfile)(?![A-Za-z@])[ \t]*(?:\{([^{}\n]*)\}|([^\s{}\\%]+))")
_DOCUMENTCLASS = re.compile(r"\\documentclass\s*(?:\[[^\]]*\])?\s*\{\s*([^}\s]*)\s*\}")
_DOCUMENTSTYLE = re.compile(r"\\documentstyle(?![A-Za-z@])")
_BEGIN_DOCUMENT = re.compile(r"\\begin\s*\{document\}")
_END_DOCUMENT = re.compile(r"\\end\s*\{document\}")
_BIBLIOGRAPHY = re.compile(r"\\bibliography(?![A-Za-z@])\s*\{[^{}]*\}")


@dataclass(frozen=True, slots=True)
class RagDocument:
    """One document to ingest: the name it is stored under, its text, where it came from
    (a URL, with what was done to get the text when that is worth knowing) and its kind
    (one of :data:`KINDS`)."""

    name: str
    text: str
    source: str
    kind: str


class NoLatexError(SourceError):
    """An arXiv source holds no LaTeX that can be used (a PDF-only submission, a withdrawn
    paper, a damaged archive): the paper's PDF is read instead. ``reason`` says why in a
    few words, for the document's source."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class LatexRefusedError(SourceError):
    """An arXiv source archive refused as unsafe or too large; nothing else is tried."""


async def fetch_document(fetcher: Fetcher, target: str, sources: SourcesConfig) -> RagDocument:
    """The document ``target`` names: ``arxiv:ID`` (a bare ID, or an arxiv.org abs or pdf
    URL, too) is that paper from ``sources.arxiv_base``, named ``arxiv-ID``; any other
    http(s) URL is read as ``ws url`` reads it and named as it names it.

    Raises:
        ArgumentError: ``target`` is neither a URL nor an arXiv ID.
        NotFoundError: nothing is there (404), or arXiv has no such paper.
        SourceError: unreachable, too slow or too large (its subclasses and the
            fetcher's words), not a page, PDF or text, a PDF without text or encrypted,
            an arXiv source refused (:class:`LatexRefusedError`).
    """
    target = target.strip()
    if not target:
        raise ArgumentError("give a URL or an arXiv ID (arxiv:2401.01234)")
    ident = arxiv_id(target)
    if ident is not None:
        return await _fetch_paper(fetcher, ident, sources)
    if target.lower().startswith("arxiv:"):
        raise ArgumentError(f"not an arXiv ID: {target[6:]!r} (like 2401.01234 or hep-th/9901001)")
    return await _fetch_url(fetcher, target, sources)


async def _fetch_url(fetcher: Fetcher, url: str, sources: SourcesConfig) -> RagDocument:
    """What ``ws url`` reads (:mod:`chatthy.workspace.sources.page`), with the kind its
    answer declares."""
    fetched = await fetcher.get(url)
    kind = "text"
    if is_pdf(fetched.body):
        text = await _pdf_text(fetched, sources, fetched.url)
    elif _is_html(fetched):
        text = await asyncio.to_thread(_main_text, fetched.text(), fetched.url)
    elif _is_text(fetched):
        text = fetched.text()
        kind = _text_kind(fetched)
        if kind == "latex":
            text = strip_comments(text)
    else:
        what = fetched.media_type or "binary data"
        raise SourceError(f"{fetched.url} is {what}: only web pages, PDFs and text can be added")
    if not text.strip():
        raise SourceError(f"no readable text at {fetched.url}")
    return RagDocument(page_name(fetched.url), text, fetched.url, kind)


def _text_kind(fetched: Fetched) -> str:
    """``markdown`` or ``latex`` by the media type, else by the path's suffix (servers
    send both as ``text/plain``), else ``text``."""
    media = fetched.media_type
    path = fetched.url.split("?", 1)[0].split("#", 1)[0].lower()
    if media in ("text/markdown", "text/x-markdown") or path.endswith((".md", ".markdown")):
        return "markdown"
    if media in ("text/x-tex", "application/x-tex", "text/x-latex", "application/x-latex"):
        return "latex"
    return "latex" if path.endswith((".tex", ".ltx")) else "text"


async def _fetch_paper(fetcher: Fetcher, ident: str, sources: SourcesConfig) -> RagDocument:
    """The paper's consolidated LaTeX, or its PDF's text when arXiv has no usable source
    (none, a PDF, no LaTeX in it, or one that cannot be had: larger than ``max_bytes``,
    an HTTP error), saying so in the document's source. An archive refused as unsafe is
    not worked around."""
    base = sources.arxiv_base.rstrip("/")
    name = named("arxiv", ident.replace("/", "-"))
    about = await _about(fetcher, ident)
    try:
        fetched = await fetcher.get(f"{base}/e-print/{ident}")
    except NotFoundError:
        reason = "arXiv has no source for it"
    except SourceError as exc:
        if type(exc) is not SourceError:  # unreachable, too slow: so would the PDF be
            raise
        reason = f"its source could not be had: {exc.message}"  # too large, an HTTP error
    else:
        try:
            text = await asyncio.to_thread(consolidate_latex, fetched.body, f"arXiv {ident}")
        except NoLatexError as exc:
            reason = exc.reason
        else:
            return RagDocument(name, text, about, "latex")
    try:
        fetched = await fetcher.get(f"{base}/pdf/{ident}")
    except NotFoundError:
        raise NotFoundError(f"no arXiv paper {ident} (neither its source nor its PDF)") from None
    if not is_pdf(fetched.body):
        raise SourceError(f"arXiv {ident}: {fetched.url} is not a PDF ({reason})")
    text = await _pdf_text(fetched, sources, f"arXiv {ident}'s PDF")
    return RagDocument(name, text, f"{about}: the PDF's text ({reason})", "text")


async def _about(fetcher: Fetcher, ident: str) -> str:
    """The paper's abs URL and, when the arXiv API knows it, its title. Only a failure
    that the next requests would meet too (unreachable, too slow) is raised."""
    try:
        paper = await fetch_arxiv(fetcher, ident, 1)
    except (SourceTimeoutError, SourceConnectionError, SourceBlockedError):
        raise
    except (ArgumentError, NotFoundError, SourceError):
        return f"https://arxiv.org/abs/{ident}"
    title = paper.text.split("\n", 1)[0].strip()
    return f"{paper.source} ({title})" if title else paper.source


async def _pdf_text(fetched: Fetched, sources: SourcesConfig, what: str) -> str:
    try:
        return await pdf_text_apart(fetched.body, sources.timeout)
    except UnreadablePdf as exc:
        raise SourceError(f"{what} is {exc}") from None


# -- consolidation -------------------------------------------------------------------


def consolidate_latex(
    archive: bytes,
    name: str,
    *,
    max_members: int = MAX_MEMBERS,
    max_unpacked: int = MAX_UNPACKED,
) -> str:
    """The LaTeX of the source ``archive`` (a tar, gzipped or not, or a single gzipped
    or plain ``.tex``) as one text: the main file with every inclusion inlined, comments
    out, nothing after ``\\end{document}``. ``name`` is how errors call it
    (``arXiv 2401.01234``). CPU work: the server runs it in a thread.

    Raises:
        LatexRefusedError: a member with an absolute or ``..`` path, a link or a device;
            more than ``max_members`` members or ``max_unpacked`` bytes unpacked; a
            result over :data:`MAX_TEXT` characters.
        NoLatexError: a PDF, a damaged archive, or no main file (``\\documentclass`` and
            ``\\begin{document}``).
    """
    files = _unpack(archive, name, max_members, max_unpacked)
    readme = files.pop(_README, None)
    texts = {path: strip_comments(_decode(data)) for path, data in files.items()}
    candidates = _main_candidates(texts, readme)
    if not candidates:
        raise NoLatexError(f"{name}'s source has no main LaTeX file", "no LaTeX in its source")
    best: tuple[bool, int, str] | None = None
    for path in candidates:
        text = _Inliner(texts, path, name).run()
        plain = _class(texts[path]) not in _SIDE_CLASSES
        if best is None or (plain, len(text)) > best[:2]:
            best = (plain, len(text), text)
    assert best is not None
    return best[2]


def strip_comments(text: str) -> str:
    """``text`` without its LaTeX comments (``%`` not escaped, to the end of the line,
    which TeX joins to the next) and ``comment`` environments; verbatim text is kept as
    it is."""

    def keep(match: re.Match[str]) -> str:
        if match["comment"] is not None:
            return match["escapes"]
        if match["block"] is not None:
            return ""
        return match[0]

    return _LATEX_TOKENS.sub(keep, text)


def _unpack(archive: bytes, name: str, max_members: int, max_unpacked: int) -> dict[str, bytes]:
    """The files worth reading (:data:`_KEPT_SUFFIXES`, arXiv's README) by their
    normalised paths; a source that is not a tar is one file, ``main.tex``."""
    if is_pdf(archive):
        raise NoLatexError(f"{name}'s source is a PDF, not LaTeX", "its source is a PDF")
    try:  # opening reads the first header: failing there means "not a tar", not damage
        tar = tarfile.open(fileobj=io.BytesIO(archive), mode="r|*")  # noqa: SIM115
    except (tarfile.TarError, EOFError, OSError, zlib.error):
        return {"main.tex": _single(archive, name, max_unpacked)}
    try:
        with tar:
            return _members(tar, name, max_members, max_unpacked)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise NoLatexError(
            f"{name}'s source is a damaged archive ({exc})", "its source is damaged"
        ) from None


def _single(archive: bytes, name: str, max_unpacked: int) -> bytes:
    """A source that is one file: gunzipped (no further than ``max_unpacked``) when it is
    gzipped."""
    data = archive
    if archive[:2] == b"\x1f\x8b":
        inflate = zlib.decompressobj(wbits=31)
        try:
            data = inflate.decompress(archive, max_unpacked + 1)
        except zlib.error:
            raise NoLatexError(
                f"{name}'s source is damaged gzip data", "its source is damaged"
            ) from None
        if len(data) > max_unpacked:
            raise LatexRefusedError(f"{name}'s source unpacks to over {_size(max_unpacked)}")
    if is_pdf(data):
        raise NoLatexError(f"{name}'s source is a PDF, not LaTeX", "its source is a PDF")
    return data


def _members(
    tar: tarfile.TarFile, name: str, max_members: int, max_unpacked: int
) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    count = total = kept = 0
    for member in tar:
        count += 1
        if count > max_members:
            raise LatexRefusedError(f"{name}'s source holds over {max_members:,} files")
        path = member.name
        if path.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", path):
            raise LatexRefusedError(f"{name}'s source has a file at an absolute path: {path}")
        if ".." in re.split(r"[/\\]", path):
            raise LatexRefusedError(f"{name}'s source has a path out of its folder: {path}")
        if member.issym() or member.islnk():
            raise LatexRefusedError(f"{name}'s source holds a link: {path}")
        if member.isdir():
            continue
        if not member.isreg():
            raise LatexRefusedError(f"{name}'s source holds a special file: {path}")
        total += member.size
        if total > max_unpacked:
            raise LatexRefusedError(f"{name}'s source unpacks to over {_size(max_unpacked)}")
        path = posixpath.normpath(path)
        if path == _README or posixpath.splitext(path)[1].lower() in _KEPT_SUFFIXES:
            kept += member.size
            if kept > MAX_TEXT:
                raise LatexRefusedError(f"{name}'s LaTeX files hold over {_size(MAX_TEXT)}")
            stream = tar.extractfile(member)
            if stream is not None:
                files[path] = stream.read()
    return files


def _size(count: int) -> str:
    return f"{count / 1024**2:g} MiB" if count >= 1024**2 else f"{count:,} bytes"


def _decode(data: bytes) -> str:
    """UTF-8, else Latin-1 (older sources), which reads any bytes."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _class(text: str) -> str:
    found = _DOCUMENTCLASS.search(text)
    return found[1] if found else ""


def _main_candidates(texts: dict[str, str], readme: bytes | None) -> list[str]:
    """The file arXiv's README names top-level, else every LaTeX file with a
    ``\\documentclass`` (or the older ``\\documentstyle``) and ``\\begin{document}``."""
    if readme is not None:
        try:
            listed = msgspec.json.decode(readme).get("sources", [])
            top = [s["filename"] for s in listed if s.get("usage") == "toplevel"]
        except (msgspec.DecodeError, AttributeError, TypeError, KeyError):
            top = []
        found = [posixpath.normpath(path) for path in top if isinstance(path, str)]
        if found := [path for path in found if path in texts]:
            return found[:1]
    return sorted(
        path
        for path, text in texts.items()
        if not path.lower().endswith(".bbl")
        and (_DOCUMENTCLASS.search(text) or _DOCUMENTSTYLE.search(text))
        and _BEGIN_DOCUMENT.search(text)
    )


def _body(text: str) -> str:
    """What lies between ``\\begin{document}`` and ``\\end{document}`` (all of ``text``
    when it has no ``\\begin{document}``)."""
    begin = _BEGIN_DOCUMENT.search(text)
    if begin is None:
        return text
    end = _END_DOCUMENT.search(text, begin.end())
    return text[begin.end() : end.start() if end else len(text)]


class _Inliner:
    """One main file with its inclusions inlined; paths resolve as TeX run in the main
    file's folder resolves them (``x`` is ``x.tex``, else ``x``), then from the including
    file's folder, never outside the archive."""

    def __init__(self, texts: dict[str, str], main: str, name: str) -> None:
        self.texts = texts
        self.main = main
        self.name = name
        self.root = posixpath.dirname(main)
        self.size = 0

    def run(self) -> str:
        self._grow(len(self.texts[self.main]))
        text = self._inline(self.main, (self.main,))
        end = _END_DOCUMENT.search(text)
        if end is not None:
            text = text[: end.end()] + "\n"
        return self._bibliography(text)

    def _inline(self, path: str, open_files: tuple[str, ...]) -> str:
        here = posixpath.dirname(path)

        def include(match: re.Match[str]) -> str:
            command, ref = match[1], (match[2] if match[2] is not None else match[3]).strip()
            shown = f"\\{command}{{{ref}}}"
            found = self._find(ref, here)
            if found is None:
                return _note(f"{shown}: not in the source")
            if found in open_files:
                return _note(f"{shown}: left out, it would include itself again")
            if len(open_files) > MAX_DEPTH:
                return _note(f"{shown}: left out, nested over {MAX_DEPTH} deep")
            body = self._inline(found, (*open_files, found))
            if command == "subfile":
                body = _body(body)
            self._grow(len(body))
            return body

        return _INPUT.sub(include, self.texts[path])

    def _grow(self, count: int) -> None:
        self.size += count
        if self.size > MAX_TEXT:
            raise LatexRefusedError(
                f"{self.name}'s LaTeX grows past {MAX_TEXT:,} characters when its files "
                "are put together"
            )

    def _find(self, ref: str, here: str) -> str | None:
        ref = ref.strip('"')
        if not ref:
            return None
        for folder in dict.fromkeys((self.root, here, "")):
            path = posixpath.normpath(posixpath.join(folder, ref))
            if path.startswith(("/", "../")) or path == "..":
                continue
            for candidate in (path,) if path.endswith(".tex") else (f"{path}.tex", path):
                if candidate in self.texts and not candidate.lower().endswith(".bbl"):
                    return candidate
        return None

    def _bibliography(self, text: str) -> str:
        """The first ``\\bibliography{…}`` replaced by the main file's ``.bbl`` (or the
        only ``.bbl`` there is): what BibTeX made for it is the references' text."""
        stem = posixpath.splitext(self.main)[0]
        bbls = sorted(path for path in self.texts if path.lower().endswith(".bbl"))
        bbl = f"{stem}.bbl" if f"{stem}.bbl" in self.texts else (bbls[0] if len(bbls) == 1 else "")
        if not bbl:
            return text
        references = self.texts[bbl].strip("\n")
        return _BIBLIOGRAPHY.sub(lambda _match: references, text, count=1)


def _note(words: str) -> str:
    return f"\n% chatthy: {words}\n"
