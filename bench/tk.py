"""Tk window benchmark: time to a usable window, and frames and CPU while a long reply
streams.

    python bench/tk.py [--runs 5] [--chunks 2000] [--rate 200]

- Time to a usable window: a fresh Python process imports the window, makes it, connects
  and starts the session (the chat shown, what ``chatthy tk`` does), and says when its
  first frame after that is drawn; timed from the spawn. Median of ``--runs``.
- Streaming: one reply of N chunks paced at R chunks/s (2,000 at 200/s: ten seconds),
  drawn by a window in this process. Figures: the updates of the reply drawn per second
  (frames in which new text reached the widget), the window's frames per second (how
  often Tk handled its events: the window's responsiveness), this process's CPU (one
  core = 100 %), and the time a key typed (xdotool) mid-stream takes to show in the
  input. Median of ``--runs``.

Everything runs under an Xvfb of its own (Xvfb and xdotool must be installed); the
server and the upstream run in their own processes (bench/_harness.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _harness import BENCH, PASSPHRASE, PROFILE
from tui import TuiProcesses

READY = """
import asyncio, sys, time
t0 = float(sys.argv[1])
from chatthy.client.core import Client
from chatthy.client.tk.app import TkApp
from chatthy.wire.signing import derive_key

async def main():
    client = Client(sys.argv[2], sys.argv[3], derive_key(sys.argv[4], sys.argv[3]))
    app = TkApp(client, "tk-ready", theme="light")
    run = asyncio.ensure_future(app.mainloop())
    while not (app.session.booted and not app.session.busy):
        await asyncio.sleep(0.002)
    frames = app.frames
    while app.frames == frames:
        await asyncio.sleep(0.001)
    print(time.time() - t0, flush=True)
    app.quit()
    await run

asyncio.run(main())
"""


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    for number in range(140, 200):
        if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
            continue
        proc = subprocess.Popen(
            ["Xvfb", f":{number}", "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if Path(f"/tmp/.X11-unix/X{number}").exists():
                return proc, f":{number}"
            time.sleep(0.02)
        proc.kill()
    raise SystemExit("no display for Xvfb")


def ready_times(procs: TuiProcesses, runs: int) -> list[float]:
    env = procs.env()
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", READY, repr(time.time()), procs.address, PROFILE, PASSPHRASE],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        times.append(float(out.stdout.strip()))
    return times


async def stream_run(procs: TuiProcesses, chunks: int, rate: float) -> dict[str, float]:
    from chatthy.client.core import Client
    from chatthy.client.tk.app import TkApp
    from chatthy.wire.signing import derive_key

    client = Client(procs.address, PROFILE, derive_key(PASSPHRASE, PROFILE))
    app = TkApp(client, f"tk-stream-{time.monotonic_ns()}", theme="light")
    run = asyncio.ensure_future(app.mainloop())
    while not (app.session.booted and not app.session.busy):
        await asyncio.sleep(0.01)
    app.input.focus_force()
    app.submit(f"tui {chunks} {1 / rate:.6f}")
    while app.conversation.live is None:
        await asyncio.sleep(0.001)
    reply = app.conversation.live
    frames, cpu, wall = app.frames, time.process_time(), time.monotonic()
    await asyncio.sleep(chunks / rate / 2)  # halfway: a key typed must show at once
    typed = time.monotonic()
    env = {**os.environ}
    await asyncio.create_subprocess_exec("xdotool", "type", "x", env=env)
    while "x" not in app.input.get("1.0", "end-1c"):
        await asyncio.sleep(0.001)
    key_lag = time.monotonic() - typed
    while app.conversation.live is not None:
        await asyncio.sleep(0.005)
    seconds = time.monotonic() - wall
    figures = {
        "updates/s": reply.updates / seconds,
        "frames/s": (app.frames - frames) / seconds,
        "cpu %": 100 * (time.process_time() - cpu) / seconds,
        "key ms": key_lag * 1000,
        "seconds": seconds,
    }
    app.quit()
    await run
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args()
    if not (shutil.which("Xvfb") and shutil.which("xdotool")):
        raise SystemExit("bench/tk.py needs Xvfb and xdotool (apt-get install xvfb xdotool)")
    xvfb, display = start_xvfb()
    os.environ["DISPLAY"] = display
    try:
        with TuiProcesses() as started:
            procs = started if isinstance(started, TuiProcesses) else None
            assert procs is not None
            os.environ.update({k: v for k, v in procs.env().items() if k.startswith("CHATTHY")})
            times = ready_times(procs, args.runs)
            print(f"time to a usable window: median {statistics.median(times) * 1000:.0f} ms "
                  f"(runs: {', '.join(f'{t * 1000:.0f}' for t in times)})")  # fmt: skip
            results = [
                asyncio.run(stream_run(procs, args.chunks, args.rate)) for _ in range(args.runs)
            ]
            print(f"streaming {args.chunks} chunks at {args.rate:g}/s, median of {args.runs}:")
            for key in ("updates/s", "frames/s", "cpu %", "key ms", "seconds"):
                values = [r[key] for r in results]
                print(f"  {key:<10} {statistics.median(values):8.1f}   "
                      f"({', '.join(f'{v:.1f}' for v in values)})")  # fmt: skip
    finally:
        xvfb.terminate()
        xvfb.wait(5)


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))
    main()
