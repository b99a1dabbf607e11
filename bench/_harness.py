"""What the benchmarks share: the upstream and a chatthy server, each in its own process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PROFILE = "bench"
PASSPHRASE = "bench-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_listening(proc: subprocess.Popen[bytes], log: Path, seconds: float = 20) -> None:
    """Wait until ``proc`` says ``listening on`` in ``log``; exit with the log when it
    ends or takes longer than ``seconds``."""
    deadline = time.monotonic() + seconds
    while b"listening on" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(log.read_text())
        time.sleep(0.02)


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate ``procs``, the last started first; kill one that will not end."""
    for proc in reversed(procs):
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


class Processes:
    """The upstream and the server; ``with Processes() as p:`` stops both."""

    def __init__(self, default_chunks: int = 200, server_toml: str = "") -> None:
        """``server_toml``: more of server.toml (tables after the provider's)."""
        self.server_toml = server_toml
        self.tmp = tempfile.TemporaryDirectory(prefix="chatthy-bench-")
        self.home = Path(self.tmp.name)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.upstream_url = self._start_upstream(default_chunks)
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.server = self._start_server()

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL"):
            env.pop(var, None)
        env.update(
            HOME=str(self.home),
            CHATTHY_CONFIG_DIR=str(self.home / "config"),
            CHATTHY_DATA_DIR=str(self.home / "data"),
            CHATTHY_SERVER=self.address if hasattr(self, "address") else "",
            CHATTHY_PROFILE=PROFILE,
            CHATTHY_PASSPHRASE=PASSPHRASE,
        )
        return env

    def _start_upstream(self, default_chunks: int) -> str:
        proc = subprocess.Popen(
            [sys.executable, str(BENCH / "_upstream.py"), "--default-chunks", str(default_chunks)],
            stdout=subprocess.PIPE,
        )
        self.procs.append(proc)
        assert proc.stdout is not None
        return proc.stdout.readline().decode().strip() + "/v1"

    def _start_server(self) -> subprocess.Popen[bytes]:
        config = self.home / "config"
        config.mkdir(parents=True)
        (config / "server.toml").write_text(
            "[providers.up]\n"
            'scheme = "openai"\n'
            f'base_url = "{self.upstream_url}"\n'
            'api_key = "sk-bench"\n'
            'model = "bench-model"\n'
            "context_length = 32000\n"
            "max_tokens = 1024\n"
            "retries = 0\n" + self.server_toml
        )
        log = open(self.home / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
        proc = subprocess.Popen(
            [sys.executable, "-m", "chatthy", "serve", "--listen", self.address],
            env=self.env(),
            stderr=log,
            stdout=log,
        )
        self.procs.append(proc)
        wait_listening(proc, self.home / "server.log")
        return proc

    def server_log(self) -> str:
        return (self.home / "server.log").read_text()

    def close(self) -> None:
        stop_all(self.procs)
        self.tmp.cleanup()

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
