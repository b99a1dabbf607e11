"""The unified-diff applier behind ``workspace_patch``: diffs as models write them
(wrong or missing line numbers, bare ``@@``, headers or none) apply where their lines
stand; anything else is refused whole, saying which hunk and what the text holds."""

from __future__ import annotations

import pytest

from chatthy.agent.patch import PatchError, apply_patch

TEXT = "a\nb\nc\nd\ne\n"


@pytest.mark.parametrize(
    ("text", "diff", "after"),
    [
        pytest.param(TEXT, "--- a/f\n+++ b/f\n@@ -2,3 +2,3 @@\n b\n-c\n+C\n d\n", "a\nb\nC\nd\ne\n",
                     id="headers"),
        pytest.param("z\n" + TEXT, "@@ -2,3 +2,3 @@\n b\n-c\n+C\n d\n", "z\na\nb\nC\nd\ne\n",
                     id="offset"),
        pytest.param(TEXT, "@@ ... @@\n c\n-d\n", "a\nb\nc\ne\n", id="bare-header"),
        pytest.param(TEXT, "@@ -1 +1 @@\n-a\n+A\n@@ -5 +5,2 @@\n e\n+f\n", "A\nb\nc\nd\ne\nf\n",
                     id="two-hunks"),
        pytest.param(TEXT, "@@ -2,0 +3 @@\n+b2\n", "a\nb\nb2\nc\nd\ne\n", id="insert-after"),
        pytest.param("", "--- /dev/null\n+++ b/n\n@@ -0,0 +1,2 @@\n+hi\n+there\n", "hi\nthere\n",
                     id="new-file"),
        pytest.param("a\nb", "@@ -2 +2 @@\n-b\n\\ No newline at end of file\n+B\n", "a\nB\n",
                     id="adds-final-newline"),
        pytest.param("a\nb\n", "@@ -2 +2 @@\n-b\n+B\n\\ No newline at end of file\n", "a\nB",
                     id="drops-final-newline"),
        pytest.param("a\r\nb\r\n", "@@ -1,2 +1,2 @@\n a\n-b\n+c\n", "a\r\nc\r\n", id="crlf"),
        pytest.param("x\n-- sig\n", "@@ -1,2 +1 @@\n x\n--- sig\n", "x\n",
                     id="removes-a-dash-line"),
        pytest.param("a\n\nb\n", "@@ -1,3 +1,3 @@\n a\n\n-b\n+B\n\n\n", "a\n\nB\n",
                     id="blank-context-and-trailing-blanks"),
    ],
)  # fmt: skip
def test_applies(text: str, diff: str, after: str) -> None:
    assert apply_patch(text, diff).text == after


@pytest.mark.parametrize(
    ("diff", "reason"),
    [
        ("just words", "the diff has no hunk (no line starting with '@@')"),
        ("@@ -2,2 +2,2 @@\n b\n-x\n+y\n",
         "hunk 1 (@@ -2,2 +2,2 @@) does not apply: line 3 is 'c', the hunk expects 'x' (and its "
         "lines stand nowhere else)"),
        ("@@ -9 +9 @@\n-zz\n+y\n",
         "hunk 1 (@@ -9 +9 @@) does not apply: the text has 5 lines and 'zz' is not among them"),
        ("@@ -1 +1 @@\n-c\n+C\n@@ -2 +2 @@\n-b\n+B\n",
         "hunk 2 (@@ -2 +2 @@) does not apply: its lines are only at line 2, before the end of "
         "the hunk before (hunks follow the text's order and do not overlap)"),
        ("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+A\n--- a/y\n+++ b/y\n@@ -1 +1 @@\n-a\n+A\n",
         "the diff changes 2 files (x, y); send one file's diff per call"),
        ("@@ -1 +1 @@\n*a\n", "line '*a' in hunk @@ -1 +1 @@ starts with neither ' ', '-' nor '+'"),
        ("@@ -9,0 +10 @@\n+z\n", "hunk 1 (@@ -9,0 +10 @@) adds after line 9 but the text has 5 "
         "lines"),
    ],
)  # fmt: skip
def test_refuses_with_the_reason(diff: str, reason: str) -> None:
    with pytest.raises(PatchError) as caught:
        apply_patch(TEXT, diff)
    assert str(caught.value) == reason


def test_counts_what_changed() -> None:
    patched = apply_patch(TEXT, "@@ -1,2 +1,3 @@\n-a\n+A\n+A2\n b\n@@ -5 +6 @@\n-e\n")
    assert (patched.hunks, patched.added, patched.removed) == (2, 2, 2)
    assert patched.text == "A\nA2\nb\nc\nd\n"
