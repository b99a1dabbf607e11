"""A fetched PDF is read in a process of its own, with a deadline: what the server runs."""

from __future__ import annotations

import pytest

from chatthy.workspace.pdf import UnreadablePdf, pdf_text, pdf_text_apart
from helpers import make_pdf


async def test_apart_gives_the_same_text_and_the_same_reasons() -> None:
    pdf = make_pdf([["Okapis are shy."], ["So are sloths."]])
    assert await pdf_text_apart(pdf, timeout=30) == pdf_text(pdf)
    with pytest.raises(UnreadablePdf, match=r"^a PDF without text \(scanned pages"):
        await pdf_text_apart(make_pdf([[]]), timeout=30)
    with pytest.raises(UnreadablePdf, match=r"^not a readable PDF \(\w+\)$"):
        await pdf_text_apart(b"%PDF-1.7\n1 0 obj\n<< /Type", timeout=30)


async def test_a_pdf_past_its_deadline_is_given_up() -> None:
    with pytest.raises(UnreadablePdf, match=r"^a PDF that takes over 0.001 s to read$"):
        await pdf_text_apart(make_pdf([["slow"]]), timeout=0.001)
