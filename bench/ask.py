"""Time ``chatthy ask "hello"`` and the line client's start as whole processes against a
running server.

Each run is a fresh process (the console script), timed from spawn to exit: ``ask`` with
the offline echo provider, cold (no key cache: scrypt derives the key) and warm (the key
read from the key cache); ``ask`` with the upstream's 200-chunk reply, warm; ``chatthy
repl`` reading ``/quit`` (connect, attach, leave), warm; ``chatthy repl`` on a terminal
(tmux) until its prompt shows, where tmux is installed. Then ``python -X importtime`` of
``ask`` and ``repl`` lists the modules the client path spends its start-up importing.
The commands run with their bytecode cached (in the bench's temp dir), as an installed
chatthy has it, even where ``PYTHONDONTWRITEBYTECODE`` is set.

    python bench/ask.py [--runs 10] [--chunks 200]
"""

from __future__ import annotations

import argparse
import os
import select
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from _harness import Processes, cpu_seconds

FORBIDDEN = ("openai", "anthropic", "httpx", "httpx2", "textual", "chatthy.server", "sqlite3")

ECHO = '[providers.echo]\nscheme = "echo"\nmodel = "echo"\n[providers.echo.params]\ndelay = 0.0\n'


def client_env(procs: Processes) -> dict[str, str]:
    """The bench's environment, with compiled bytecode kept between runs (in its temp
    dir, so the source tree stays as it is)."""
    env = procs.env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(procs.home / "pycache")
    return env


def time_runs(
    procs: Processes,
    command: list[str],
    runs: int,
    stdin: bytes = b"",
    before: Callable[[], None] | None = None,
) -> list[float]:
    walls = []
    for _ in range(runs):
        if before is not None:
            before()
        t0 = time.perf_counter()
        out = subprocess.run(command, env=client_env(procs), input=stdin, capture_output=True)
        walls.append(time.perf_counter() - t0)
        if out.returncode != 0:
            raise SystemExit(f"{' '.join(command[1:])} failed: {out.stderr.decode()}")
    return walls


class _Control:
    """A tmux server of the bench's own, driven by one client in control mode (``tmux
    -C``): it is told of every byte a window of its session writes (``%output``), so the
    prompt is seen the moment it is drawn, with nothing polling (a ``capture-pane``
    every few ms is a process started each time, on the cores the client starts on)."""

    def __init__(self, env: dict[str, str]) -> None:
        env = {k: v for k, v in env.items() if k != "TMUX"}  # the bench run inside tmux
        socket = f"chatthy-bench-{Path(env['HOME']).name}-{time.monotonic_ns()}"  # one each
        idle = ["new-session", "-s", "idle", "-x", "80", "-y", "24", "sleep", "600"]
        self.tmux = subprocess.Popen(
            ["tmux", "-L", socket, "-C", *idle],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,  # the windows' environment: the bench's (bytecode cached, its home)
        )
        self.pending = b""

    def send(self, command: list[str]) -> None:
        assert self.tmux.stdin is not None
        self.tmux.stdin.write(shlex.join(command).encode() + b"\n")
        self.tmux.stdin.flush()

    def lines(self, deadline: float) -> Iterator[str]:
        """What tmux says, line by line, until ``deadline`` (then SystemExit)."""
        assert self.tmux.stdout is not None
        while True:
            line, newline, rest = self.pending.partition(b"\n")
            if newline:
                self.pending = rest
                yield line.decode(errors="replace")
                continue
            if not select.select([self.tmux.stdout], [], [], deadline - time.monotonic())[0]:
                raise SystemExit("the line client never showed its prompt")
            chunk = os.read(self.tmux.stdout.fileno(), 65536)
            if not chunk:
                raise SystemExit("tmux ended")
            self.pending += chunk

    def time_to(self, command: list[str], shown: str) -> tuple[float, float]:
        """Seconds from starting ``command`` in a new window until it writes ``shown``,
        and the CPU seconds the command had used by then (to the kernel's tick, 10 ms;
        others' load on the machine moves it less than the wall time); the window is
        closed after."""
        t0 = time.perf_counter()
        self.send(["new-window", "-d", "-P", "-F", "pane=#{pane_id} #{pane_pid}", *command])
        pane, pid, said = "", 0, dict[str, str]()
        for line in self.lines(time.monotonic() + 30):
            if line.startswith("pane="):
                pane, _, number = line[len("pane=") :].partition(" ")
                pid = int(number)
            elif line.startswith("%output "):
                _, which, data = line.split(" ", 2)
                said[which] = said.get(which, "") + data
            if pane and shown in said.get(pane, ""):
                wall, cpu = time.perf_counter() - t0, cpu_seconds(pid)
                self.send(["kill-window", "-t", pane])
                return wall, cpu
        raise AssertionError("unreachable: lines() ends only by raising")

    def close(self) -> None:
        self.send(["kill-server"])
        try:
            self.tmux.wait(5)
        except subprocess.TimeoutExpired:
            self.tmux.kill()


def terminal_starts(
    procs: Processes, command: list[str], runs: int
) -> tuple[list[float], list[float]]:
    """The line client on a terminal (a window of the bench's own tmux server): from
    starting it to its prompt on screen (prompt_toolkit imported, the chat open), wall
    and CPU seconds. The first run is not counted: it compiles prompt_toolkit's
    bytecode, which the piped runs never import."""
    control = _Control(client_env(procs))
    try:
        control.time_to(command, "bench>")
        timed = [control.time_to(command, "bench>") for _ in range(runs)]
        return [wall for wall, _ in timed], [cpu for _, cpu in timed]
    finally:
        control.close()


def import_times(
    procs: Processes, command: list[str], stdin: bytes = b""
) -> list[tuple[int, int, str]]:
    """(cumulative µs, self µs, module) of every module the command imports."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "chatthy", *command],
        env=client_env(procs),
        input=stdin,
        capture_output=True,
        check=True,
    )
    rows = []
    for line in out.stderr.decode().splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative, name = line[len("import time:") :].split("|")
        rows.append((int(cumulative), int(self_us), name.rstrip()))
    return rows


def show(label: str, walls: list[float]) -> None:
    spread = ", ".join(f"{w:.3f}" for w in sorted(walls))
    print(f"{label:<34} median {statistics.median(walls):.3f} s  [{spread}]")


def show_imports(label: str, rows: list[tuple[int, int, str]]) -> None:
    total = sum(r[1] for r in rows)
    print(f"\n{label}: {len(rows)} modules imported, {total / 1e6:.3f} s self time in all")
    print("top imports by cumulative time (µs, self µs, module):")
    for cumulative, self_us, name in sorted(rows, reverse=True)[:15]:
        print(f"  {cumulative:>8} {self_us:>8}  {name}")
    loaded = {name.strip() for _, _, name in rows}
    bad = sorted(n for n in loaded if n.split(".")[0] in FORBIDDEN or n.startswith(FORBIDDEN))
    print("heavy modules on this path: " + (", ".join(bad) if bad else "none"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--chunks", type=int, default=200)
    args = parser.parse_args()
    script = str(Path(sys.executable).parent / "chatthy")
    with Processes(default_chunks=args.chunks, server_toml=ECHO) as procs:
        cache = procs.home / "data" / "key-cache.json"
        ask_echo = ["ask", "--provider", "echo", "hello"]
        time_runs(procs, [script, *ask_echo], 2)  # the server's first turns; the caches made
        time_runs(procs, [script, "repl"], 1, b"/quit\n")

        def no_cache() -> None:
            cache.unlink(missing_ok=True)

        show(
            "ask, echo, cold (no key cache)",
            time_runs(procs, [script, *ask_echo], args.runs, before=no_cache),
        )
        time_runs(procs, [script, *ask_echo], 1)
        show("ask, echo, warm (key cache)", time_runs(procs, [script, *ask_echo], args.runs))
        ask_up = ["ask", "--provider", "up", "hello"]
        show(
            f"ask, upstream {args.chunks} chunks, warm",
            time_runs(procs, [script, *ask_up], args.runs),
        )
        repl = ["repl", "--chat", "bench"]
        show("repl start + /quit, warm", time_runs(procs, [script, *repl], args.runs, b"/quit\n"))
        if shutil.which("tmux"):
            walls, cpus = terminal_starts(procs, [script, *repl], args.runs)
            show("repl on a terminal: to its prompt", walls)
            show("  its CPU time by then", cpus)
        show("python -c pass", time_runs(procs, [sys.executable, "-c", "pass"], args.runs))
        show_imports("chatthy ask", import_times(procs, ask_echo))
        show_imports("chatthy repl", import_times(procs, repl, b"/quit\n"))


if __name__ == "__main__":
    main()
