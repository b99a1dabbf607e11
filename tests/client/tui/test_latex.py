"""LaTeX math shown as Unicode, its source one key away; code left alone."""

from __future__ import annotations

from chatthy.client.latex import math_to_unicode, render_latex
from helpers import ServerFactory, openai_provider
from tuikit import SIZE, make_app, screen_text, status_line, type_line, wait_for, wait_on_screen
from upstream import Reply, Upstream


def test_the_four_delimiters_outside_code() -> None:
    text = (
        "Inline $x^2 + y_i$ and \\(\\alpha \\leq \\beta\\); "
        "display $$\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}$$ and \\[\\mathbb{R}^n\\].\n\n"
        "`$a^2$` stays, and so does\n\n```\n$b^2$\n```\n"
    )
    out = render_latex(text)
    assert "Inline x² + yᵢ and α≤β;" in out
    assert "\n\n∑ᵢ₌₁ⁿ i = n(n+1)/2\n\n" in out
    assert "\n\nℝⁿ\n\n" in out
    assert "`$a^2$`" in out
    assert "```\n$b^2$\n```" in out


def test_dollars_that_are_money_are_not_math() -> None:
    assert render_latex("it costs $5 and $10") == "it costs $5 and $10"
    assert render_latex("no math here") == "no math here"


def test_roots_fractions_and_scripts_keep_what_they_group() -> None:
    assert math_to_unicode("\\sqrt[3]{x}") == "∛(x)"
    assert math_to_unicode("\\sqrt[n]{a+b}") == "ⁿ√(a+b)"
    assert math_to_unicode("\\frac{a+b}{c}") == "(a+b)/c"
    assert math_to_unicode("\\frac{a}{b+c}") == "a/(b+c)"
    assert math_to_unicode("\\frac{n(n+1)}{2}") == "n(n+1)/2"
    assert math_to_unicode("e^{-x^2}") == "e^(-x²)"
    assert math_to_unicode("\\frac{-b \\pm \\sqrt{b^2-4ac}}{2a}") == "(-b ±√(b²-4ac))/2a"


def test_malformed_math_shows_its_source() -> None:
    assert math_to_unicode("\\frac{a") == "\\frac{a"


async def test_math_in_a_reply_and_its_source_on_dollar(
    servers: ServerFactory, upstream: Upstream
) -> None:
    upstream.push(Reply(chunks=["Euler: $e^{i\\pi} + 1 = 0$, ", "and $\\alpha^2 \\geq 0$."]))
    app = make_app(await servers.start({"up": openai_provider(upstream)}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "a formula with $x_1$ please")
        await wait_on_screen(pilot, "α² ≥ 0.")
        screen = screen_text(app)
        assert "Euler: e^(iπ) + 1 = 0," in screen
        assert "a formula with x₁ please" in screen
        assert "\\alpha" not in screen
        await pilot.press("shift+tab", "dollar_sign")
        await wait_on_screen(pilot, "$\\alpha^2 \\geq 0$.")
        assert "$x_1$" in screen_text(app)
        assert "math shown as LaTeX source" in status_line(app)
        await type_line(pilot, "/chat default")
        await wait_for(pilot, lambda: not app.session.busy)
        await wait_on_screen(pilot, "$\\alpha^2 \\geq 0$.")
        await pilot.press("shift+tab", "dollar_sign")
        await wait_on_screen(pilot, "α² ≥ 0.")


async def test_math_shows_as_unicode_while_the_reply_streams(
    servers: ServerFactory, upstream: Upstream
) -> None:
    chunks = ["Euler: $e^{i\\pi} + 1 = 0$.\n\n", "Now $x^2$ grows"] + ["."] * 600
    upstream.push(Reply(chunks=chunks, delay=0.05))
    app = make_app(await servers.start({"up": openai_provider(upstream)}))
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "math, slowly")
        await wait_on_screen(pilot, "Now x² grows...")
        screen = screen_text(app)
        assert "Euler: e^(iπ) + 1 = 0." in screen
        assert "… streaming" in screen
        await pilot.press("shift+tab", "dollar_sign")
        await wait_on_screen(pilot, "Now $x^2$ grows")
        assert "Euler: $e^{i\\pi} + 1 = 0$." in screen_text(app)
        assert "… streaming" in screen_text(app)
        await pilot.press("dollar_sign")
        await wait_on_screen(pilot, "Now x² grows")
        await pilot.press("ctrl+c")
        await wait_on_screen(pilot, "⊘ cancelled")
        assert "Euler: e^(iπ) + 1 = 0." in screen_text(app)
