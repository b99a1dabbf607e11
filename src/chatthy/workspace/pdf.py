"""The text of a PDF, for a workspace file: from the client's disk (``ws add``, ``/ws
attach``) or from a URL the server fetches (``ws url``).

pypdf reads it (pure Python, imported on first use: it takes a tenth of a second). Pages
are joined by blank lines. A PDF of scanned pages holds no text and is refused, as is an
encrypted one that does not open without a password; a damaged file, or one that trips
pypdf's limits on what it decompresses, is "not a readable PDF". This is CPU work: callers
on an event loop run it in a thread.
"""

from __future__ import annotations

import io
import logging

__all__ = ["UnreadablePdf", "is_pdf", "pdf_text"]

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
