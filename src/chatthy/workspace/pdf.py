"""The text of a PDF, for a workspace file: from the client's disk (``ws add``, ``/ws
attach``) or from a URL the server fetches (``ws url``).

pypdf reads it (pure Python, imported on first use: it takes a tenth of a second). Pages
are joined by blank lines. A PDF of scanned pages holds no text and is refused, as is an
encrypted one that does not open without a password; a damaged file, or one that trips
pypdf's limits on what it decompresses, is "not a readable PDF". This is CPU work: the
client runs it in a thread on its user's own files; the server reads a PDF fetched from
anywhere in a process of its own (:func:`pdf_text_apart`), with a deadline and a memory
cap, so that a hostile file can neither hold the server's event loop nor exhaust it.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys

__all__ = ["UnreadablePdf", "is_pdf", "pdf_text", "pdf_text_apart"]

MEMORY_CAP = 1024**3
"""Bytes of address space the process reading a fetched PDF may use."""
_UNREADABLE = 3
"""The exit status of that process for a PDF it could read no text from."""

_MAGIC = b"%PDF-"


class UnreadablePdf(Exception):
    """The PDF gives no text; the message says why in a few words ("an encrypted PDF")."""


def is_pdf(data: bytes) -> bool:
    """Whether ``data`` starts like a PDF document (a text that merely mentions ``%PDF-``
    does not)."""
    return data.lstrip()[: len(_MAGIC)] == _MAGIC


def pdf_text(data: bytes) -> str:
    """The text of every page of the PDF ``data``, pages apart by a blank line.

    Raises:
        UnreadablePdf: encrypted, damaged, or without any text (scanned pages).
    """
    import pypdf

    # pypdf logs what it repairs ("EOF marker not found") as warnings: not the user's news.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadablePdf("an encrypted PDF (it needs a password)")
        pages = [page.extract_text() or "" for page in reader.pages]
    except UnreadablePdf:
        raise
    except Exception as exc:  # a damaged file can fail anywhere in the parser
        raise UnreadablePdf(f"not a readable PDF ({type(exc).__name__})") from exc
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise UnreadablePdf("a PDF without text (scanned pages need OCR first)")
    return text + "\n"


async def pdf_text_apart(data: bytes, timeout: float) -> str:
    """:func:`pdf_text` in a process of its own (``python -m chatthy.workspace.pdf``),
    killed after ``timeout`` seconds, its memory capped at :data:`MEMORY_CAP`.

    Raises:
        UnreadablePdf: as :func:`pdf_text`, or the PDF took too long or too much memory.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatthy.workspace.pdf",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate(data)
    except TimeoutError:
        raise UnreadablePdf(f"a PDF that takes over {timeout:g} s to read") from None
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if proc.returncode == 0:
        return out.decode("utf-8")
    if proc.returncode == _UNREADABLE:
        raise UnreadablePdf(err.decode("utf-8", "replace").strip())
    raise UnreadablePdf("not a readable PDF (it needs more memory or time than allowed)")


def _main() -> int:
    """Read a PDF on stdin, write its text on stdout; a PDF without text: its reason on
    stderr and exit status :data:`_UNREADABLE`."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    try:
        text = pdf_text(sys.stdin.buffer.read())
    except UnreadablePdf as exc:
        sys.stderr.write(f"{exc}\n")
        return _UNREADABLE
    sys.stdout.buffer.write(text.encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
