"""Full-screen client benchmark: cold start, opening big chats, rendering while streaming.

    python bench/tui.py [--runs 5] [--chunks 2000] [--rate 200] [--stream-runs 3]
                        [--code-lines 300] [--only cold|open|big|stream]

- Cold start: ``chatthy tui`` as a fresh process in a real terminal (tmux), timed from
  spawn until the screen shows the chat and the status "connected", then until a typed
  key shows in the input. Once with a new chat, once with a chat of 5,000 messages.
- Opening chats of 100, 1,000 and 5,000 messages (seeded with the ``import`` RPC) in a
  running client (headless, in this process): from Enter on ``/chat NAME`` until the
  newest message is on screen, and until a key pressed then shows in the input.
- A chat of 5,000 messages, scrolled through (headless, in this process): each page of
  older messages from the key that asks for it (``g`` at the top) until it is shown;
  the keys and time to reach the first message (``Home``, else ``g`` until it shows);
  this process's RSS once the whole chat was scrolled through (top, then ``G``); and ``/``
  search for a word of the newest reply from the top (Enter until the match is
  on the status line), with a key typed just after it, which must reach the input.
- Streaming: one reply of N chunks paced at R chunks/s by an upstream in its own process.
  For every chunk, the time the client received it, the time its text reached the
  widget that draws it, and the first frame painted after that; lag = painted − received.
  Lag growth = median lag of the last tenth of the chunks − that of the first tenth.
  Then the same for a Python code block of L lines, a line per chunk (a long block
  still growing is the costliest thing to draw).

The server and the upstream run in their own processes (bench/_harness.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _harness import BENCH, PASSPHRASE, PROFILE, Processes

SIZE = (100, 36)
SIZES = (100, 1000, 5000)


def tmux(session: str) -> list[str]:
    """tmux on a server of the session's own: neither another benchmark nor the previous
    session's server, still exiting, can get in the way."""
    return ["tmux", "-L", session]


# --- the processes ----------------------------------------------------------------------


class TuiProcesses(Processes):
    """The harness's server, answered by this file's upstream (paragraphs of words)."""

    def _start_upstream(self, default_chunks: int) -> str:
        proc = subprocess.Popen(
            [sys.executable, str(BENCH / "tui.py"), "--upstream"], stdout=subprocess.PIPE
        )
        self.procs.append(proc)
        assert proc.stdout is not None
        return proc.stdout.readline().decode().strip() + "/v1"


def serve_upstream() -> None:
    """``tui N D`` gets N chunks ``wI`` D seconds apart, a paragraph break every 40;
    ``code N D`` a Python code block of N lines ``wI = …``, one per chunk."""
    sys.path.insert(0, str(BENCH.parent / "tests"))
    from upstream import Reply, Upstream, _last_user_text

    class WordUpstream(Upstream):
        def _next_reply(self, body: Any) -> Reply:
            words = _last_user_text(body).split()
            if len(words) == 3 and words[0] in ("tui", "code"):
                n, delay = int(words[1]), float(words[2])
                if words[0] == "tui":
                    chunks = [f"w{i}" + ("\n\n" if i % 40 == 39 else " ") for i in range(n)]
                else:
                    lines = [f"w{i} = compute({i}, 'text')  # line {i}\n" for i in range(n)]
                    chunks = ["```python\n", *lines, "```\n"]
                return Reply(chunks=chunks, delay=delay, usage=(1, n))
            return Reply(chunks=["fine."])

    WordUpstream().serve_forever()


def conversation(messages: int) -> list[dict[str, str]]:
    """A chat as a user has them: short questions, replies with a list and some code."""
    out = []
    for i in range(messages // 2):
        out.append({"role": "user", "content": f"question {i}: how does *this* compare?"})
        out.append(
            {
                "role": "assistant",
                "content": f"Reply {i}. In short:\n\n- one point\n- another point\n\n"
                f"```python\ndef f(x):\n    return x + {i}\n```\n\nEnd of reply {i}.",
            }
        )
    return out


async def seed(procs: Processes) -> None:
    client = make_client(procs)
    client.connect()
    try:
        for n in SIZES:
            data = json.dumps(conversation(n))
            await client.call("import", data=data, chat=f"chat{n}")
    finally:
        await client.aclose()


def make_client(procs: Processes) -> Any:
    from chatthy.client.core import Client
    from chatthy.wire.signing import derive_key

    return Client(procs.address, PROFILE, derive_key(PASSPHRASE, PROFILE), timeout=30.0)


def newest(n: int) -> str:
    return f"End of reply {n // 2 - 1}."


# --- cold start in a terminal -----------------------------------------------------------


def capture(session: str) -> str:
    out = subprocess.run([*tmux(session), "capture-pane", "-p"], capture_output=True)
    return out.stdout.decode(errors="replace")


def poll(session: str, check: Any, timeout: float = 30.0) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if check(capture(session)):
            return time.perf_counter()
        time.sleep(0.005)
    raise SystemExit(f"timed out; the terminal:\n{capture(session)}")


def cold_start(procs: Processes, chat: str, shows: str) -> dict[str, float]:
    script = Path(sys.executable).parent / "chatthy"
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in procs.env().items() if k.isidentifier())
    command = f"env -i {env} TERM=xterm-256color {script} tui --chat {shlex.quote(chat)}"
    session = f"chatthy-bench-{os.getpid()}-{time.monotonic_ns()}"
    t0 = time.perf_counter()
    size = ("-x", str(SIZE[0]), "-y", str(SIZE[1]))
    subprocess.run([*tmux(session), "new-session", "-d", *size, command], check=True)
    try:
        painted = poll(session, lambda s: "chatthy" in s or "—" in s)
        ready = poll(session, lambda s: shows in s and "connected" in s)
        subprocess.run([*tmux(session), "send-keys", "x"], check=True)
        typed = poll(session, lambda s: re.search(r"▊\s+x\s+▎", s) is not None)
    finally:
        subprocess.run([*tmux(session), "kill-server"], capture_output=True)
    return {"painted": painted - t0, "ready": ready - t0, "typed": typed - t0}


# --- in-process client ------------------------------------------------------------------


def screen_text(app: Any) -> str:
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    return "\n".join("".join(seg.text for strip in line for seg in strip) for line in update.strips)


async def wait_screen(pilot: Any, text: str, timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while text not in screen_text(pilot.app):
        if time.perf_counter() > deadline:
            raise SystemExit(f"timed out waiting for {text!r}:\n{screen_text(pilot.app)}")
        await pilot.pause(0.005)


async def open_chats(procs: Processes, runs: int) -> dict[int, list[dict[str, float]]]:
    from chatthy.client.tui import ChatthyApp

    app = ChatthyApp(make_client(procs), "start")
    results: dict[int, list[dict[str, float]]] = {n: [] for n in SIZES}
    async with app.run_test(size=SIZE) as pilot:
        await wait_screen(pilot, "connected")
        for _ in range(runs):
            for n in SIZES:
                await pilot.pause(0.3)
                app.prompt_input.value = f"/chat chat{n}"
                t0 = time.perf_counter()
                await pilot.press("enter")
                await wait_screen(pilot, newest(n))
                shown = time.perf_counter()
                await pilot.press("x")
                while app.prompt_input.value != "x":
                    await pilot.pause(0.001)
                typed = time.perf_counter()
                app.prompt_input.value = ""
                results[n].append({"shown": shown - t0, "typed": typed - t0})
                await pilot.press("enter")
                app.prompt_input.value = "/chat start"
                await pilot.press("enter")
                await wait_screen(pilot, "— start")
    return results


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def idle(pilot: Any) -> None:
    """Until the output asks for nothing and places nothing (a page being fetched)."""
    output = pilot.app.output
    while getattr(output, "_asking", False) or getattr(output, "_placing", False):
        await asyncio.sleep(0.002)


async def reading(pilot: Any) -> None:
    """Until the output has done what it does between keys (draw the next entries
    ahead), as for a user who reads what a key showed before the next one."""
    await idle(pilot)
    await asyncio.sleep(0.05)
    while any(w.group == "ahead" and w.is_running for w in pilot.app.output.workers):
        await asyncio.sleep(0.002)


async def until(check: Any, timeout: float = 120.0) -> None:
    """Poll ``check()`` without the pilot (whose pause waits on every widget)."""
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            raise SystemExit(f"timed out waiting for {check}")
        await asyncio.sleep(0.002)


def key(pilot: Any, name: str) -> None:
    """A key as the terminal driver hands it to the app (the event made as the pilot
    makes it), without the pilot's waits: each pilot key waits at least twice 20 ms for
    the process to look idle, which would be counted in the figure."""
    import unicodedata

    from textual import events
    from textual.keys import REPLACED_KEYS, _get_unicode_name_from_key

    original = REPLACED_KEYS.get(name, name)
    try:
        char: str | None = unicodedata.lookup(_get_unicode_name_from_key(original))
    except KeyError:
        char = name if len(name) == 1 else None
    event = events.Key(name, char)
    event.set_sender(pilot.app)
    pilot.app._driver.send_message(event)


async def older_page(pilot: Any) -> float:
    """``g`` at the top of what is shown, until more older messages are shown (and
    placed, the view kept where it was)."""
    output = pilot.app.output
    await reading(pilot)
    before = output.older
    t0 = time.perf_counter()
    key(pilot, "g")
    while True:  # a g pressed while the view still moved may have been spent
        try:
            await until(lambda: output.older != before, timeout=15)
            break
        except SystemExit:
            key(pilot, "g")
    await idle(pilot)
    await painted(output)
    return time.perf_counter() - t0


async def painted(widget: Any) -> None:
    """Until the screen was refreshed once more (what changed is painted)."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def settle() -> None:
        if not done.done():
            done.set_result(None)

    widget.call_after_refresh(settle)
    await done


async def big_chat(procs: Processes) -> dict[str, Any]:
    """A chat of 5,000 messages: the top in one key, pages of older messages, scrolled
    through to the top by pages, memory, search."""
    from chatthy.client.tui import ChatthyApp

    n = SIZES[-1]
    top = "question 0: how"
    app = ChatthyApp(make_client(procs), f"chat{n}")
    figures: dict[str, Any] = {"rss_start_mb": rss_mb()}
    async with app.run_test(size=SIZE) as pilot:
        await wait_screen(pilot, newest(n))
        await wait_screen(pilot, "connected")
        await pilot.press("shift+tab")
        figures["rss_open_mb"] = rss_mb()
        home = app.output._bindings.key_to_bindings.get("home", [])
        if any(binding.action == "first" for binding in home):  # a jump to the first
            t0 = time.perf_counter()
            await pilot.press("home")
            await until(lambda: top in screen_text(app))
            figures["home_s"] = time.perf_counter() - t0
            await pilot.press("G")
            await until(lambda: newest(n) in screen_text(app))
        figures["page"] = [await older_page(pilot) for _ in range(5)]
        print(f"  (pages: {figures['page']})", file=sys.stderr)
        keys, t0 = 5, time.perf_counter()
        while app.output.older or top not in screen_text(app):
            keys += 1
            if app.output.older:
                await older_page(pilot)
            else:
                await pilot.press("g")
                await asyncio.sleep(0.05)
        figures["g_top_s"], figures["g_top_keys"] = time.perf_counter() - t0, keys
        figures["rss_scrolled_mb"] = rss_mb()
        print(f"  (scrolled to the top in {keys} keys)", file=sys.stderr)
        figures["search"] = [await search_once(pilot, newest(n)) for _ in range(3)]
    return figures


async def search_once(pilot: Any, query: str) -> dict[str, float]:
    """``/`` QUERY Enter, then a key for the input at once; the time until the match is
    on the status line and painted, and whether the key was kept. The keys go in as the
    terminal driver hands them over (no pilot waits), and the status line is read, not
    the screen rendered, so that the bench takes no time from the search it times."""
    app = pilot.app
    await pilot.press("escape", "g")
    await pilot.press("slash")
    bar = app.query_one("SearchBar")
    bar.value = query
    await reading(pilot)
    t0 = time.perf_counter()
    for name in ("enter", "shift+tab", "x"):  # as typed quickly, a few ms apart
        key(pilot, name)
        await asyncio.sleep(0.005)
    await until(lambda: app.status_line.message.startswith("match 1 of"), timeout=60)
    await painted(app.output)
    found = time.perf_counter() - t0
    await until(lambda: query in screen_text(app))
    kept = app.prompt_input.value == "x"
    app.prompt_input.value = ""
    await pilot.press("shift+tab")
    return {"found": found, "key_kept": float(kept)}


# --- streaming --------------------------------------------------------------------------


class Recorder:
    """Times of chunks received, handed to the widget that draws them, and frames painted."""

    def __init__(self) -> None:
        self.received: dict[int, float] = {}
        self.applied: dict[int, float] = {}
        self.frames: list[float] = []

    def install(self) -> Any:
        """Wrap the three points; returns a function that unwraps them."""
        from rich.console import RenderableType
        from textual.app import App
        from textual.screen import Screen

        from chatthy.client.tui.live import LiveMarkdown
        from chatthy.client.tui.output import ReplyView

        recorder = self
        add_text, append, display = ReplyView.add_text, LiveMarkdown.append, App._display

        # Each wrapper takes the arguments by the names of the method it replaces.
        def timed_add_text(self: ReplyView, text: str) -> None:
            now = time.perf_counter()
            for word in _words(text):
                recorder.received.setdefault(word, now)
            add_text(self, text)

        def timed_append(self: LiveMarkdown, text: str) -> None:
            append(self, text)
            now = time.perf_counter()
            for word in _words(text):
                recorder.applied.setdefault(word, now)

        def timed_display(
            self: App[Any], screen: Screen[Any], renderable: RenderableType | None
        ) -> None:
            if renderable is not None:
                recorder.frames.append(time.perf_counter())
            display(self, screen, renderable)

        ReplyView.add_text = timed_add_text  # type: ignore[method-assign]
        LiveMarkdown.append = timed_append  # type: ignore[method-assign]
        App._display = timed_display  # type: ignore[method-assign]

        def uninstall() -> None:
            ReplyView.add_text = add_text  # type: ignore[method-assign]
            LiveMarkdown.append = append  # type: ignore[method-assign]
            App._display = display  # type: ignore[method-assign]

        return uninstall

    def lags(self, n: int) -> dict[str, float]:
        import bisect

        lags = []
        for i in range(n):
            if i not in self.applied or i not in self.received:
                continue
            k = bisect.bisect_left(self.frames, self.applied[i])
            painted = self.frames[k] if k < len(self.frames) else float("inf")
            lags.append(painted - self.received[i])
        tenth = max(1, len(lags) // 10)
        span = max(self.received.values()) - min(self.received.values())
        first, last = min(self.received.values()), max(self.applied.values())
        frames = [f for f in self.frames if first <= f <= last + 0.1]
        return {
            "chunks_shown": len(lags),
            "received_per_s": (len(self.received) - 1) / span if span else 0.0,
            "lag_p50_ms": 1000 * statistics.median(lags),
            "lag_p99_ms": 1000 * sorted(lags)[int(0.99 * (len(lags) - 1))],
            "lag_max_ms": 1000 * max(lags),
            "lag_growth_ms": 1000
            * (statistics.median(lags[-tenth:]) - statistics.median(lags[:tenth])),
            "frames_per_s": len(frames) / (last - first) if last > first else 0.0,
        }


def _words(text: str) -> list[int]:
    return [int(m) for m in re.findall(r"\bw(\d+)\b", text)]


async def stream_once(
    procs: Processes, chunks: int, rate: float, kind: str = "tui"
) -> dict[str, float]:
    """One reply of ``chunks`` chunks (``kind`` tui: words, code: lines of a code block)."""
    from chatthy.client.tui import ChatthyApp

    recorder = Recorder()
    uninstall = recorder.install()
    app = ChatthyApp(make_client(procs), f"stream{time.monotonic_ns()}")
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_screen(pilot, "connected")
            app.prompt_input.value = f"{kind} {chunks} {1 / rate}"
            cpu0 = time.process_time()
            await pilot.press("enter")
            deadline = time.perf_counter() + chunks / rate * 3 + 30
            while chunks - 1 not in recorder.applied and time.perf_counter() < deadline:
                await pilot.pause(0.05)
            cpu = time.process_time() - cpu0
            await pilot.pause(0.2)
            await wait_screen(pilot, f"w{chunks - 1}")
    finally:
        uninstall()
    figures = recorder.lags(chunks)
    figures["client_cpu_per_s"] = cpu / (chunks / rate)
    return figures


# --- report -----------------------------------------------------------------------------


def spread(values: list[float], scale: float = 1000.0) -> str:
    values = [v * scale for v in values]
    return f"{statistics.median(values):7.0f}  ({min(values):.0f}–{max(values):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stream-runs", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--code-lines", type=int, default=300)
    parser.add_argument(
        "--only", choices=("cold", "open", "big", "stream"), help="run one part of the benchmark"
    )
    parser.add_argument("--upstream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upstream:
        serve_upstream()
        return
    with TuiProcesses() as procs:
        asyncio.run(seed(procs))
        parts = {
            "cold": report_cold_start,
            "open": report_opening,
            "big": report_big,
            "stream": report_streaming,
        }
        for name, report in parts.items():
            if args.only in (None, name):
                report(procs, args)


def report_cold_start(procs: Processes, args: argparse.Namespace) -> None:
    if not shutil.which("tmux"):
        print("cold start: skipped (no tmux)")
        return
    print("cold start, a fresh `chatthy tui` in tmux (ms, median (min–max))")
    for chat, shows in (("new", "new chat"), ("chat5000", newest(5000))):
        rows = [cold_start(procs, chat, shows) for _ in range(args.runs)]
        for key in ("painted", "ready", "typed"):
            print(f"  {chat:9} {key:8} {spread([r[key] for r in rows])}")


def report_opening(procs: Processes, args: argparse.Namespace) -> None:
    print("\nopening a chat in a running client (ms, median (min–max))")
    opened = asyncio.run(open_chats(procs, args.runs))
    for n, rows in opened.items():
        for key in ("shown", "typed"):
            print(f"  {n:5} messages  {key:6} {spread([r[key] for r in rows])}")


def report_big(procs: Processes, args: argparse.Namespace) -> None:
    print(f"\na chat of {SIZES[-1]:,} messages scrolled through")
    big = asyncio.run(big_chat(procs))
    if "home_s" in big:
        print(f"  Home: to the first message  ms {spread([big['home_s']])}")
    print(f"  g: a page of older messages  ms {spread(big['page'])}")
    print(f"  g: to the first message      {big['g_top_keys']} keys, {big['g_top_s']:.1f} s")
    searches = big["search"]
    print(f"  / search from the top        ms {spread([s['found'] for s in searches])}")
    kept = sum(s["key_kept"] for s in searches)
    print(f"  key typed during search      kept {kept:.0f} of {len(searches)}")
    for key in ("start", "open", "scrolled"):
        print(f"  RSS {key:9}                MB {big[f'rss_{key}_mb']:7.0f}")


def report_streaming(procs: Processes, args: argparse.Namespace) -> None:
    scenarios = [
        (f"streaming {args.chunks} chunks at {args.rate:.0f}/s", "tui", args.chunks),
        (f"a code block of {args.code_lines} lines at {args.rate:.0f}/s", "code", args.code_lines),
    ]
    for title, kind, chunks in scenarios:
        print(f"\n{title}")
        runs = [
            asyncio.run(stream_once(procs, chunks, args.rate, kind))
            for _ in range(args.stream_runs)
        ]
        for key in runs[0]:
            values = [r[key] for r in runs]
            low, high = min(values), max(values)
            print(f"  {key:18} {statistics.median(values):9.2f}  ({low:.2f}–{high:.2f})")


if __name__ == "__main__":
    main()
