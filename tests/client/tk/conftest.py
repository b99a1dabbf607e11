"""What every test of the Tk window stands on: an Xvfb of the session's own, named in
``DISPLAY`` for each test (the root conftest's ``isolated_env`` drops the user's); and,
where Xvfb cannot run, one line saying why instead of one per test."""

from __future__ import annotations

import gc
from collections.abc import Generator, Iterator

import pytest

from tkkit import XVFB_MISSING, xvfb


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    """An Xvfb started for the session (``":93"``), stopped at its end; every Tk test
    skips here when Xvfb, xdotool or tkinter is missing."""
    if XVFB_MISSING is not None:
        pytest.skip(XVFB_MISSING)
    with xvfb() as name, pytest.MonkeyPatch.context() as env:
        env.setenv("DISPLAY", name)
        yield name


@pytest.fixture(autouse=True)
def on_display(display: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every Tk test opens its windows on the session's Xvfb: ``isolated_env`` ran first
    and took ``DISPLAY`` away. After it, its windows' objects are collected here, in
    the main thread: a Tk interpreter freed by a collection that happens to run in
    another thread (the store's, a worker's) aborts the process (``Tcl_AsyncDelete:
    async handler deleted by the wrong thread``)."""
    monkeypatch.setenv("DISPLAY", display)
    yield display
    gc.collect()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Report the skip for a missing Xvfb at this file rather than at each test, so that
    pytest's summary folds the whole group into one line: on a machine without Xvfb,
    a line per test would bury the rest of the summary."""
    report = yield
    longrepr = report.longrepr
    if XVFB_MISSING is not None and isinstance(longrepr, tuple) and XVFB_MISSING in longrepr[2]:
        # no line: pytest then names the file alone, as it does for a skip mark
        report.longrepr = (__file__, None, f"Skipped: {XVFB_MISSING}")  # type: ignore[assignment]
    return report
