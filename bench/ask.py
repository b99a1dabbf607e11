"""Time ``chatthy ask "hello"`` as a whole process against a running server.

The upstream answers with a 200-chunk reply; each run is a fresh process (the console
script), timed from spawn to exit. Then ``python -X importtime`` of the same command
lists the modules the client path spends its start-up importing.

    python bench/ask.py [--runs 10] [--chunks 200]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _harness import Processes

FORBIDDEN = ("openai", "anthropic", "httpx", "httpx2", "textual", "chatthy.server", "sqlite3")


def time_runs(procs: Processes, command: list[str], runs: int) -> list[float]:
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run(command, env=procs.env(), capture_output=True, check=False)
        walls.append(time.perf_counter() - t0)
        if out.returncode != 0:
            raise SystemExit(f"ask failed: {out.stderr.decode()}")
    return walls


def import_times(procs: Processes, command: list[str]) -> list[tuple[int, int, str]]:
    """(cumulative µs, self µs, module) of every module the command imports."""
    out = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        env=procs.env(),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--chunks", type=int, default=200)
    args = parser.parse_args()
    script = Path(sys.executable).parent / "chatthy"
    with Processes(default_chunks=args.chunks) as procs:
        entry = [str(script), "ask", "hello"]
        module = [sys.executable, "-m", "chatthy", "ask", "hello"]
        time_runs(procs, entry, 2)
        for label, command in (("chatthy ask", entry), ("python -m chatthy ask", module)):
            walls = time_runs(procs, command, args.runs)
            spread = ", ".join(f"{w:.3f}" for w in sorted(walls))
            print(f"{label:<22} median {statistics.median(walls):.3f} s wall  [{spread}]")
        bare = time_runs(procs, [sys.executable, "-c", "pass"], args.runs)
        print(f"{'python -c pass':<22} median {statistics.median(bare):.3f} s wall")
        rows = import_times(procs, module)
        total = sum(r[1] for r in rows)
        print(f"\nimports: {len(rows)} modules, {total / 1e6:.3f} s self time in all")
        print("top imports by cumulative time (µs, self µs, module):")
        for cumulative, self_us, name in sorted(rows, reverse=True)[:20]:
            print(f"  {cumulative:>8} {self_us:>8}  {name}")
        loaded = {name.strip() for _, _, name in rows}
        bad = sorted(n for n in loaded if n.split(".")[0] in FORBIDDEN or n.startswith(FORBIDDEN))
        print("\nheavy modules on the client path: " + (", ".join(bad) if bad else "none"))


if __name__ == "__main__":
    main()
