"""``chatthy rag add URL|arxiv:ID``'s documents: arXiv sources made into one ``.tex`` from
real archives built in memory, and the network path through the guarded fetcher against
the local fake of arXiv and the web."""

from __future__ import annotations

import gzip
import io
import random
import socket
import tarfile
import time

import pypdf
import pytest

from chatthy.errors import ArgumentError, NotFoundError, SourceConnectionError, SourceError
from chatthy.rag.sources import (
    MAX_DEPTH,
    MAX_MEMBERS,
    LatexRefusedError,
    NoLatexError,
    RagDocument,
    consolidate_latex,
    fetch_document,
    strip_comments,
)
from chatthy.workspace.sources import Fetcher
from helpers import make_pdf
from sources_upstream import Paper, SourcesUpstream

ID = "2401.01234"


def tar_of(files: dict[str, str | bytes], *, compress: bool = True) -> bytes:
    """A tar (gzipped, as arXiv sends it) of these files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if compress else "w") as tar:
        for path, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tar_with(info: tarfile.TarInfo) -> bytes:
    """A gzipped tar of a main file and then the member ``info`` (a link, a device …)."""
    buffer = io.BytesIO()
    main = b"\\documentclass{article}\\begin{document}Hi\\end{document}"
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        head = tarfile.TarInfo("main.tex")
        head.size = len(main)
        tar.addfile(head, io.BytesIO(main))
        tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return buffer.getvalue()


MAIN = r"""\documentclass[11pt]{article}
\usepackage{graphicx}% figures
\title{Necks of Giraffes}
\begin{document}
\maketitle
\input{sections/intro}
\include{sections/method.tex}
\input sections/extra
% \input{sections/draft}
\subfile{chapters/appendix}
\includegraphics{fig.png}
\bibliographystyle{plain}
\bibliography{refs}
\end{document}
Anything after the end is not the paper.
"""

FILES: dict[str, str | bytes] = {
    "main.tex": MAIN,
    "sections/intro.tex": "Giraffes are tall: 100\\% of them.\n\\input{sections/table}\n",
    "sections/table.tex": "%% generated\nNeck & 2 m \\\\% row\n",
    "sections/method.tex": "We measured\n% the old way\n   carefully.\n",
    "sections/extra.tex": "Extra words.\n",
    "sections/draft.tex": "A secret draft.\n",
    "chapters/appendix.tex": (
        "\\documentclass[../main.tex]{subfiles}\n\\begin{document}\nThe appendix.\n"
        "\\end{document}\n"
    ),
    "main.bbl": "\\begin{thebibliography}{1}\n\\bibitem{a} A. Author, Necks.\n"
    "\\end{thebibliography}\n",
    "fig.png": b"\x89PNG\r\n\x1a\n\x00\x00",
    "macros.sty": "\\newcommand{\\x}{y}\n",
}


def test_a_source_becomes_one_tex_with_its_inputs_inline_and_no_comments() -> None:
    text = consolidate_latex(tar_of(FILES), f"arXiv {ID}")
    assert text == (
        "\\documentclass[11pt]{article}\n"
        "\\usepackage{graphicx}\\title{Necks of Giraffes}\n"
        "\\begin{document}\n"
        "\\maketitle\n"
        "Giraffes are tall: 100\\% of them.\n"
        "Neck & 2 m \\\\\n\n"
        "We measured\ncarefully.\n\n"
        "Extra words.\n\n"
        "\nThe appendix.\n\n"
        "\\includegraphics{fig.png}\n"
        "\\bibliographystyle{plain}\n"
        "\\begin{thebibliography}{1}\n\\bibitem{a} A. Author, Necks.\n"
        "\\end{thebibliography}\n"
        "\\end{document}\n"
    )


def test_the_main_file_is_the_paper_not_a_figure_or_a_reply_to_referees() -> None:
    paper = "\\documentclass{revtex4}\n\\begin{document}\n\\input{body}\n\\end{document}\n"
    reply = "\\documentclass{letter}\n\\begin{document}\nDear editor, thanks.\n\\end{document}\n"
    figure = (
        "\\documentclass{standalone}\n\\begin{document}\n" + "\\draw;" * 500 + "\\end{document}"
    )
    archive = tar_of(
        {
            "reply.tex": reply,
            "paper-v3.tex": paper,
            "body.tex": "The long body of the paper. " * 20,
            "fig/tikz.tex": figure,
        }
    )
    text = consolidate_latex(archive, "arXiv x")
    assert "The long body of the paper." in text and "Dear editor" not in text
    readme = b'{"sources": [{"filename": "reply.tex", "usage": "toplevel"}]}'
    archive = tar_of({"00README.json": readme, "reply.tex": reply, "paper-v3.tex": paper})
    assert "Dear editor" in consolidate_latex(archive, "arXiv x")


def test_a_missing_input_and_a_cycle_are_left_as_notes_and_the_rest_kept() -> None:
    archive = tar_of(
        {
            "ms.tex": "\\documentclass{article}\n\\begin{document}\n"
            "\\input{a}\nMiddle.\n\\input{generated/table}\n\\end{document}\n",
            "a.tex": "In a.\n\\input{b}\n",
            "b.tex": "In b.\n\\input{a.tex}\n",
        }
    )
    text = consolidate_latex(archive, "arXiv x")
    assert text == (
        "\\documentclass{article}\n\\begin{document}\n"
        "In a.\nIn b.\n\n% chatthy: \\input{a.tex}: left out, it would include itself again\n"
        "\n\n\nMiddle.\n\n% chatthy: \\input{generated/table}: not in the source\n\n"
        "\\end{document}\n"
    )


def test_inclusions_stop_at_the_depth_limit() -> None:
    files: dict[str, str | bytes] = {
        "main.tex": "\\documentclass{article}\\begin{document}\\input{f0}\\end{document}"
    }
    for n in range(MAX_DEPTH + 5):
        files[f"f{n}.tex"] = f"level {n} \\input{{f{n + 1}}}"
    text = consolidate_latex(tar_of(files), "arXiv x")
    assert f"level {MAX_DEPTH - 1} " in text and f"level {MAX_DEPTH} " not in text
    assert f"nested over {MAX_DEPTH} deep" in text


def test_an_inclusion_may_not_leave_the_archive() -> None:
    archive = tar_of(
        {
            "paper/main.tex": "\\documentclass{article}\\begin{document}"
            "\\input{../../etc/passwd}\\input{/etc/passwd}\\end{document}",
        }
    )
    text = consolidate_latex(archive, "arXiv x")
    assert "\\input{../../etc/passwd}: not in the source" in text
    assert "\\input{/etc/passwd}: not in the source" in text


def _member(name: str, kind: bytes = tarfile.REGTYPE, size: int = 1) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size if kind == tarfile.REGTYPE else 0
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        info.linkname = "main.tex"
    return info


@pytest.mark.parametrize(
    ("member", "line"),
    [
        (
            _member("../outside.tex"),
            "arXiv x's source has a path out of its folder: ../outside.tex",
        ),
        (_member("a/../../x.tex"), "arXiv x's source has a path out of its folder: a/../../x.tex"),
        (
            _member("/etc/cron.d/x"),
            "arXiv x's source has a file at an absolute path: /etc/cron.d/x",
        ),
        (_member("sym.tex", tarfile.SYMTYPE), "arXiv x's source holds a link: sym.tex"),
        (_member("hard.tex", tarfile.LNKTYPE), "arXiv x's source holds a link: hard.tex"),
        (_member("dev", tarfile.CHRTYPE), "arXiv x's source holds a special file: dev"),
    ],
)
def test_an_unsafe_archive_is_refused_in_one_line(member: tarfile.TarInfo, line: str) -> None:
    with pytest.raises(LatexRefusedError) as caught:
        consolidate_latex(tar_with(member), "arXiv x")
    assert caught.value.message == line
    assert caught.value.code == "source"


def test_a_tar_bomb_is_refused_before_it_is_unpacked() -> None:
    many = tar_of({f"f{n}.tex": "" for n in range(MAX_MEMBERS + 1)})
    with pytest.raises(LatexRefusedError, match=r"^arXiv x's source holds over 5,000 files$"):
        consolidate_latex(many, "arXiv x")
    zeros = tar_of({"main.tex": "\\documentclass{article}", "big.tex": bytes(4 * 1024**2)})
    assert len(zeros) < 20_000
    with pytest.raises(LatexRefusedError, match=r"^arXiv x's source unpacks to over 1 MiB$"):
        consolidate_latex(zeros, "arXiv x", max_unpacked=1024**2)
    single = gzip.compress(b"\\documentclass{article}" + bytes(4 * 1024**2))
    with pytest.raises(LatexRefusedError, match=r"^arXiv x's source unpacks to over 1 MiB$"):
        consolidate_latex(single, "arXiv x", max_unpacked=1024**2)


def test_inlining_one_file_over_and_over_is_refused() -> None:
    files: dict[str, str | bytes] = {
        "main.tex": "\\documentclass{article}\\begin{document}\\input{l0}\\end{document}"
    }
    for n in range(8):
        files[f"l{n}.tex"] = f"\\input{{l{n + 1}}}" * 20
    files["l8.tex"] = "words " * 20
    started = time.monotonic()
    with pytest.raises(LatexRefusedError, match="grows past 33,554,432 characters"):
        consolidate_latex(tar_of(files), "arXiv x")
    assert time.monotonic() - started < 5


def test_a_single_gzipped_tex_and_a_plain_tar_are_sources_too() -> None:
    tex = b"\\documentclass{article}\n\\begin{document}\nOne file. % note\n\\end{document}\n"
    assert consolidate_latex(gzip.compress(tex), "arXiv x") == (
        "\\documentclass{article}\n\\begin{document}\nOne file. \\end{document}\n"
    )
    latin = "\\documentclass{article}\\begin{document}Caf\xe9\\end{document}".encode("latin-1")
    assert "Café" in consolidate_latex(tar_of({"p.tex": latin}, compress=False), "arXiv x")


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (make_pdf([["Only a PDF."]]), "its source is a PDF"),
        (gzip.compress(make_pdf([["Only a PDF."]])), "its source is a PDF"),
        (gzip.compress(b"This paper has been withdrawn by its author."), "no LaTeX in its source"),
        (tar_of({"README": "withdrawn", "fig.png": b"\x89PNG"}), "no LaTeX in its source"),
        (
            tar_of({"main.tex": random.Random(1).randbytes(3000).hex()})[:1800],
            "its source is damaged",
        ),
    ],
)
def test_a_source_without_latex_says_so(source: bytes, reason: str) -> None:
    with pytest.raises(NoLatexError) as caught:
        consolidate_latex(source, "arXiv x")
    assert caught.value.reason == reason
    assert caught.value.message.startswith("arXiv x's source ")


def test_comments_are_cut_but_not_escaped_or_verbatim_percent_signs() -> None:
    text = (
        "50\\% sure % not this\n"
        "  next\n"
        "line\\\\% a break, then a comment\n"
        "\\verb|100%| kept\n"
        "\\begin{verbatim}\n% printed\n\\end{verbatim}\n"
        "\\begin{comment}\nhidden\n\\end{comment}\n"
        "% a whole line\n"
        "end\n"
    )
    assert strip_comments(text) == (
        "50\\% sure next\n"
        "line\\\\\\verb|100%| kept\n"
        "\\begin{verbatim}\n% printed\n\\end{verbatim}\n"
        "\n"
        "end\n"
    )


# -- through the fetcher ---------------------------------------------------------------


async def fetch(sources: SourcesUpstream, target: str, **config: object) -> RagDocument:
    settings = sources.config(**config)
    async with Fetcher(settings) as fetcher:
        return await fetch_document(fetcher, target, settings)


def _paper(sources: SourcesUpstream) -> None:
    sources.papers.append(Paper(f"{ID}v2", "Necks of Giraffes", "Long.", ["A. B."], ["q-bio"]))


async def test_an_arxiv_paper_comes_as_its_consolidated_latex(sources: SourcesUpstream) -> None:
    _paper(sources)
    sources.page(f"/e-print/{ID}", tar_of(FILES), "application/x-eprint-tar")
    document = await fetch(sources, f"arxiv:{ID}")
    assert document == RagDocument(
        f"arxiv-{ID}",
        consolidate_latex(tar_of(FILES), "x"),
        f"http://arxiv.org/abs/{ID}v2 (Necks of Giraffes)",
        "latex",
    )
    assert [p.split("?")[0] for p in sources.paths()] == ["/api/query", f"/e-print/{ID}"]
    url = await fetch(sources, f"https://arxiv.org/abs/{ID}")
    assert url == document


async def test_no_source_falls_back_to_the_pdf_and_says_so(sources: SourcesUpstream) -> None:
    _paper(sources)
    sources.page(f"/pdf/{ID}", make_pdf([["Necks are long."]]), "application/pdf")
    document = await fetch(sources, f"arxiv:{ID}")
    assert document == RagDocument(
        f"arxiv-{ID}",
        "Necks are long.\n",
        f"http://arxiv.org/abs/{ID}v2 (Necks of Giraffes): the PDF's text "
        "(arXiv has no source for it)",
        "text",
    )
    sources.page(f"/e-print/{ID}", make_pdf([["Necks are long."]]), "application/pdf")
    document = await fetch(sources, f"https://arxiv.org/pdf/{ID}.pdf")
    assert (document.text, document.kind) == ("Necks are long.\n", "text")
    assert document.source.endswith("the PDF's text (its source is a PDF)")
    figure = random.Random(2).randbytes(20_000)
    sources.page(f"/e-print/{ID}", tar_of({**FILES, "fig.png": figure}), "application/gzip")
    document = await fetch(sources, f"arxiv:{ID}", max_bytes=10_000)
    assert (document.text, document.kind) == ("Necks are long.\n", "text")
    assert document.source.endswith(
        f"the PDF's text (its source could not be had: {sources.base_url}/e-print/{ID} "
        "is larger than 10,000 bytes (max_bytes under [sources] in server.toml))"
    )


async def test_an_unknown_paper_and_an_unsafe_source_are_one_line(
    sources: SourcesUpstream,
) -> None:
    with pytest.raises(NotFoundError) as missing:
        await fetch(sources, "arxiv:2501.99999")
    assert missing.value.message == "no arXiv paper 2501.99999 (neither its source nor its PDF)"
    sources.page(f"/e-print/{ID}", tar_with(_member("../../.bashrc")), "application/gzip")
    sources.page(f"/pdf/{ID}", make_pdf([["Necks."]]), "application/pdf")
    with pytest.raises(LatexRefusedError, match=r"path out of its folder: \.\./\.\./\.bashrc$"):
        await fetch(sources, f"arxiv:{ID}")
    assert f"/pdf/{ID}" not in sources.paths()  # refused, not worked around
    assert sources.paths()[-1] == f"/e-print/{ID}"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_host_is_one_line(sources: SourcesUpstream) -> None:
    port = _closed_port()
    with pytest.raises(SourceConnectionError) as caught:
        await fetch(sources, f"arxiv:{ID}", arxiv_base=f"http://127.0.0.1:{port}")
    assert caught.value.message == "cannot connect to 127.0.0.1: connection refused"
    with pytest.raises(SourceConnectionError, match=r"^cannot connect to 127\.0\.0\.1: "):
        await fetch(sources, f"http://127.0.0.1:{port}/paper.pdf")


async def test_urls_are_read_as_ws_url_reads_them_with_their_kind(
    sources: SourcesUpstream,
) -> None:
    sources.page("/notes/README.md", "# Necks\n\nLong.\n", "text/plain; charset=utf-8")
    sources.page("/paper.tex", "\\section{A} 5\\% % draft\nB\n", "text/x-tex")
    sources.page("/plain", "just words\n", "text/plain")
    sources.page("/p.pdf", make_pdf([["Page one."], ["Page two."]]), "application/pdf")
    page = "<html><head><title>Necks</title></head><body><nav>Menu</nav><article>"
    page += "<p>Giraffes have long necks that help them reach leaves.</p>" * 4
    sources.page("/article", page + "</article></body></html>")
    base = sources.base_url
    markdown = await fetch(sources, f"{base}/notes/README.md")
    assert markdown == RagDocument(
        "url-127.0.0.1-notes-README.md", "# Necks\n\nLong.\n", f"{base}/notes/README.md", "markdown"
    )
    latex = await fetch(sources, f"{base}/paper.tex")
    assert (latex.text, latex.kind) == ("\\section{A} 5\\% B\n", "latex")
    assert (await fetch(sources, f"{base}/plain")).kind == "text"
    pdf = await fetch(sources, f"{base}/p.pdf")
    assert (pdf.text, pdf.kind) == ("Page one.\n\nPage two.\n", "text")
    html = await fetch(sources, f"{base}/article")
    assert html.kind == "text" and html.text.startswith("Necks\n\nGiraffes have long necks")
    assert "Menu" not in html.text


def _encrypted_pdf() -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(make_pdf([["Secret."]]))))
    writer.encrypt("hunter2", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("path", "body", "kind", "error", "line"),
    [
        ("/gone", None, "", NotFoundError, "nothing at {base}/gone (HTTP 404)"),
        (
            "/locked.pdf",
            _encrypted_pdf(),
            "application/pdf",
            SourceError,
            "{base}/locked.pdf is an encrypted PDF (it needs a password)",
        ),
        (
            "/scan.pdf",
            make_pdf([[]]),
            "application/pdf",
            SourceError,
            "{base}/scan.pdf is a PDF without text (scanned pages need OCR first)",
        ),
        (
            "/logo.png",
            b"\x89PNG\r\n\x1a\n\x00",
            "image/png",
            SourceError,
            "{base}/logo.png is image/png: only web pages, PDFs and text can be added",
        ),
        (
            "/huge.txt",
            b"words " * 1200,
            "text/plain",
            SourceError,
            "{base}/huge.txt is larger than 5,000 bytes (max_bytes under [sources] in server.toml)",
        ),
    ],
)
async def test_what_a_url_cannot_give_is_one_line(
    sources: SourcesUpstream,
    path: str,
    body: bytes | None,
    kind: str,
    error: type[SourceError],
    line: str,
) -> None:
    if body is not None:
        sources.page(path, body, kind)
    with pytest.raises(error) as caught:
        await fetch(sources, f"{sources.base_url}{path}", max_bytes=5000)
    assert caught.value.message == line.format(base=sources.base_url)


async def test_a_target_that_is_no_url_or_id_is_refused(sources: SourcesUpstream) -> None:
    with pytest.raises(ArgumentError, match=r"^not an http"):
        await fetch(sources, "notes.md")
    with pytest.raises(ArgumentError, match=r"^give a URL or an arXiv ID"):
        await fetch(sources, "  ")
    with pytest.raises(ArgumentError) as caught:
        await fetch(sources, "arxiv:giraffes")
    assert caught.value.message == "not an arXiv ID: 'giraffes' (like 2401.01234 or hep-th/9901001)"
    assert sources.paths() == []
