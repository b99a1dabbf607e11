"""LaTeX math in Markdown shown as Unicode: ``$…$``, ``$$…$$``, ``\\(…\\)`` and ``\\[…\\]``
outside code. pylatexenc turns the macros into symbols; first, what it would flatten is
written out so that it still reads right: super- and subscripts become Unicode ones
where there are such characters (``x^2`` → ``x²``, ``a_{ij}`` → ``aᵢⱼ``) and keep their
group in parentheses where not (``e^{-x^2}`` → ``e^(-x²)``), a fraction's parts are
bracketed when they hold an operator (``\\frac{a+b}{c}`` → ``(a+b)/c``), and a root keeps
its degree (``\\sqrt[3]{x}`` → ``∛(x)``)."""

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
_SINGLE = re.compile(r"[A-Za-z0-9+\-=()]")
_FRAC = re.compile(r"\\[dt]?frac(?![A-Za-z])\s*")
_SQRT = re.compile(r"\\sqrt\s*\[")
_ROOTS = {"2": "√", "3": "∛", "4": "∜"}
_OPERATOR = re.compile(r"[+\-=<>/,*]|\s|\\(?:cdot|times|pm|mp|div|le|ge|leq|geq|neq)(?![A-Za-z])")
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


def _group(text: str, start: int) -> tuple[str, int] | None:
    """The argument at ``start``: a ``{…}`` group's inside, or one character; and where
    it ends. None when there is none (or its brace is never closed)."""
    if start >= len(text):
        return None
    if text[start] != "{":
        return (text[start], start + 1) if _SINGLE.match(text[start]) else None
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{" and text[index - 1 : index] != "\\":
            depth += 1
        elif text[index] == "}" and text[index - 1 : index] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1 : index], index + 1
    return None


def _bracketed(part: str) -> str:
    """``part`` of a fraction, in parentheses when it holds an operator outside any."""
    text, depth = part.strip(), 0
    for index, char in enumerate(text):
        if char in "({[":
            depth += 1
        elif char in ")}]":
            depth -= 1
        elif depth == 0 and index and _OPERATOR.match(text, index):
            return f"({text})"
    return part


def _structure(latex: str) -> str:
    """``latex`` with fractions, roots and scripts written out (see the module's
    docstring), inner ones first; what cannot be read is left as it is."""
    out, index = [], 0
    while index < len(latex):
        char = latex[index]
        if char == "\\" and (frac := _FRAC.match(latex, index)):
            top = _group(latex, frac.end())
            bottom = _group(latex, top[1]) if top else None
            if top and bottom:
                upper, lower = _structure(top[0]), _structure(bottom[0])
                out.append(f"{_bracketed(upper)}/{_bracketed(lower)}")
                index = bottom[1]
                continue
        if char == "\\" and (sqrt := _SQRT.match(latex, index)):
            close = latex.find("]", sqrt.end())
            body = _group(latex, close + 1) if close >= 0 else None
            if body:
                degree = latex[sqrt.end() : close].strip()
                out.append(_root(degree) + f"({_structure(body[0])})")
                index = body[1]
                continue
        if char == "\\":
            end = index + 1
            while end < len(latex) and latex[end].isalpha():
                end += 1
            out.append(latex[index : max(end, index + 2)])
            index = max(end, index + 2)
            continue
        if char in "^_" and (body := _group(latex, index + 1)):
            out.append(_script(char, _structure(body[0])))
            index = body[1]
            continue
        out.append(char)
        index += 1
    return "".join(out)


def _root(degree: str) -> str:
    if degree in _ROOTS:
        return _ROOTS[degree]
    if degree and all(c in _SUP for c in degree):
        return "".join(_SUP[c] for c in degree) + "√"
    return f"({degree})√"


def _script(mark: str, body: str) -> str:
    """``body`` raised (``^``) or lowered (``_``): in Unicode where every character has
    a form, else after the mark, in parentheses when it is more than one."""
    table = _SUP if mark == "^" else _SUB
    chars = body.replace(" ", "")
    if chars and all(c in table for c in chars):
        return "{}" + "".join(table[c] for c in chars)
    return f"{mark}{body}" if len(chars) == 1 else f"{mark}({body})"


@functools.lru_cache(maxsize=4096)
def math_to_unicode(latex: str) -> str:
    """One formula (without its delimiters) as Unicode text; the source when it cannot be
    read."""
    try:
        text = _converter().latex_to_text(_structure(latex))  # type: ignore[attr-defined]
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
