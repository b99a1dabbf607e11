"""LaTeX math in Markdown shown as Unicode: ``$…$``, ``$$…$$``, ``\\(…\\)`` and ``\\[…\\]``
outside code. pylatexenc turns the macros into symbols; simple super- and subscripts
become Unicode ones first (``x^2`` → ``x²``, ``a_{ij}`` → ``aᵢⱼ``)."""

from __future__ import annotations

import functools
import logging
import re

__all__ = ["math_to_unicode", "render_latex"]

_CODE = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*\n.*?^ {0,3}\1[ \t]*$|(`+)[^`\n]*?\2", re.M | re.S)
_MATH = re.compile(
    r"\$\$(?P<d1>.+?)\$\$"
    r"|\\\[(?P<d2>.+?)\\\]"
    r"|\\\((?P<i1>.+?)\\\)"
    r"|(?<![\\$\w])\$(?=\S)(?P<i2>[^$\n]+?)(?<=\S)\$(?![\w$])",
    re.S,
)
_SCRIPT = re.compile(r"([\^_])(?:\{([^{}\\]*)\}|([A-Za-z0-9+\-=()]))")
_SUP = dict(
    zip(
        "0123456789+-=()niaeoxyhkmprstuvwlgjbcdfz",
        "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱᵃᵉᵒˣʸʰᵏᵐᵖʳˢᵗᵘᵛʷˡᵍʲᵇᶜᵈᶠᶻ",
        strict=True,
    )
)
_SUB = dict(
    zip("0123456789+-=()aeoxhklmnpstijruv", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₒₓₕₖₗₘₙₚₛₜᵢⱼᵣᵤᵥ", strict=True)
)
_MARKDOWN = re.compile(r"([\\`*_\[\]<>])")


@functools.cache
def _converter() -> object:
    from pylatexenc.latex2text import LatexNodes2Text

    logging.getLogger("pylatexenc").setLevel(logging.CRITICAL)
    return LatexNodes2Text(math_mode="text", strict_latex_spaces="based-on-source")


def _script(match: re.Match[str]) -> str:
    table = _SUP if match.group(1) == "^" else _SUB
    body = match.group(2) if match.group(2) is not None else match.group(3)
    if body and all(c in table for c in body.replace(" ", "")):
        return "{}" + "".join(table[c] for c in body.replace(" ", ""))
    return match.group(0)


@functools.lru_cache(maxsize=4096)
def math_to_unicode(latex: str) -> str:
    """One formula (without its delimiters) as Unicode text; the source when it cannot be
    read."""
    try:
        text = _converter().latex_to_text(_SCRIPT.sub(_script, latex))  # type: ignore[attr-defined]
    except Exception:  # pylatexenc raises a variety of errors on malformed input
        return latex
    if "%s" in str(text) and "%s" not in latex:
        return latex
    return " ".join(str(text).split())


def _math(match: re.Match[str]) -> str:
    display = match.group("d1") or match.group("d2")
    text = _MARKDOWN.sub(
        r"\\\1", math_to_unicode(display or match.group("i1") or match.group("i2"))
    )
    return f"\n\n{text}\n\n" if display else text


def render_latex(markdown: str) -> str:
    """``markdown`` with its math outside code blocks and code spans as Unicode."""
    if "$" not in markdown and "\\(" not in markdown and "\\[" not in markdown:
        return markdown
    out, last = [], 0
    for code in _CODE.finditer(markdown):
        out.append(_MATH.sub(_math, markdown[last : code.start()]))
        out.append(code.group(0))
        last = code.end()
    out.append(_MATH.sub(_math, markdown[last:]))
    return "".join(out)
