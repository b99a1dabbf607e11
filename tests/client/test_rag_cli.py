"""``chatthy rag`` and ``chatthy ask --rag`` as a user runs them: real processes, real
files in a temporary folder, a real server with its document store."""

from __future__ import annotations

import asyncio
import io
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest
from rich.console import Console

from chatthy.client.rag import BATCH_FILES, BarProgress, Ingest, batches, plan
from chatthy.config import RagConfig
from chatthy.rag.service import Text
from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ClientMaker, ServerFactory, make_pdf, openai_provider
from tool_kit import cli, cli_env
from upstream import Reply, Upstream

OKAPI = "# Okapi\n\nThe okapi is a shy forest giraffid of the Congo, with striped legs.\n"
TEA = "# Tea\n\nGreen tea is steeped at 80 degrees for two minutes.\n"
RUST = "# Rust\n\nThe borrow checker makes sure references never outlive their data.\n"


class Served:
    """The server, and the names of the documents it was asked to store (the service's
    own ``add_many``, wrapped: what the server received, not what it kept)."""

    def __init__(self, server: Server, delay: float = 0.0) -> None:
        self.server = server
        self.delay = delay
        """Seconds each batch takes longer (for a Ctrl-C to come while one is sent)."""
        self.added: list[str] = []
        self.batches: list[int] = []
        rag = server.engine.rag
        real = rag.add_many

        async def add_many(profile: str, documents: Sequence[Text]) -> Any:
            self.added += [d.name for d in documents]
            self.batches.append(len(documents))
            if self.delay:
                await asyncio.sleep(self.delay)
            return await real(profile, documents)

        rag.add_many = add_many  # type: ignore[method-assign]  # this server's service only


async def start(servers: ServerFactory, upstream: Upstream, delay: float = 0.0) -> Served:
    config = servers.config({"up": openai_provider(upstream)})
    rag = RagConfig(max_document_bytes=1000, top_k=2)
    return Served(await servers.start_with(msgspec.structs.replace(config, rag=rag)), delay)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """Three documents, an ignored log, a binary file, a too-large file, a PDF with no
    text."""
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "okapi.md").write_text(OKAPI)
    (root / "tea.md").write_text(TEA)
    (root / "sub" / "rust.md").write_text(RUST)
    (root / "sub" / "debug.log").write_text("noise\n")
    (root / ".gitignore").write_text("*.log\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (root / "huge.txt").write_text("many words " * 200)
    (root / "scan.pdf").write_bytes(make_pdf([[]]))
    return root


async def stored(client: Any) -> dict[str, api.RagDocumentInfo]:
    return {d.name: d for d in await client.rpc(api.RagList())}


async def test_a_folder_is_added_then_skipped_unchanged_without_sending_it_again(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, docs: Path, tmp_path: Path
) -> None:
    served = await start(servers, upstream)
    code, out, err = await cli(served.server, tmp_path, "rag", "add", str(docs))
    assert code == 0, err
    client = connect(served.server, "cli", "pw")
    names = set(await stored(client))
    assert names == {"docs/.gitignore", "docs/okapi.md", "docs/tea.md", "docs/sub/rust.md"}
    problems = err.strip().splitlines()
    assert len(problems) == 3  # one line each: binary, too large, no text
    assert any("logo.png" in p and "binary" in p for p in problems)
    assert any("huge.txt" in p and "max_document_bytes" in p for p in problems)
    assert any("scan.pdf" in p for p in problems)
    assert out.startswith("added 4 documents") and "3 failed" in out
    assert len(out.strip().splitlines()) == 1  # stderr is no terminal: no bar, one line
    source = (await stored(client))["docs/okapi.md"].source
    assert source == str((docs / "okapi.md").resolve())

    sent = list(served.added)
    code, out, err = await cli(served.server, tmp_path, "rag", "add", str(docs))
    assert code == 0, err
    assert out.startswith("added 0 documents (0 chunks), 4 unchanged")
    # the unchanged files' text never reached rag_add; the failing ones were sent again
    assert set(served.added[len(sent) :]) == {"docs/huge.txt"}

    (docs / "tea.md").write_text(TEA + "\nOolong is half oxidised.\n")
    code, out, _ = await cli(served.server, tmp_path, "rag", "add", str(docs / "tea.md"))
    assert code == 0 and out.startswith("added 1 document (1 chunks), 0 unchanged")
    assert "tea.md" in await stored(client)  # a single file is named as ws add names it


async def test_exit_1_only_when_nothing_was_added_or_skipped(
    servers: ServerFactory, upstream: Upstream, docs: Path, tmp_path: Path
) -> None:
    served = await start(servers, upstream)
    code, out, err = await cli(
        served.server,
        tmp_path,
        "rag",
        "add",
        str(docs / "huge.txt"),
        str(docs / "scan.pdf"),
        str(tmp_path / "missing.md"),
        "http://127.0.0.1:9/nothing",
    )
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("skipped ") for line in lines), err
    assert "missing.md: no such file or folder" in err and "127.0.0.1:9" in err
    assert "4 failed" in out
    code, _, err = await cli(
        served.server, tmp_path, "rag", "add", str(docs / "okapi.md"), str(docs / "huge.txt")
    )
    assert code == 0 and "huge.txt" in err


async def test_list_show_search_to_ws_and_drop(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, tmp_path: Path
) -> None:
    served = await start(servers, upstream)
    client = connect(served.server, "cli", "pw")
    for name, text in (("okapi.md", OKAPI), ("tea.md", TEA), ("rust.md", RUST)):
        await client.rpc(api.RagAdd(name=name, text=text, source=f"/docs/{name}"))
    code, out, _ = await cli(served.server, tmp_path, "rag", "list")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[:3]] == ["okapi.md", "rust.md", "tea.md"]
    assert out.splitlines()[-1] == "3 document(s), 3 chunks"
    code, out, _ = await cli(served.server, tmp_path, "rag", "show", "rust.md")
    assert code == 0 and "/docs/rust.md" in out and "1. Rust" in out

    code, out, err = await cli(
        served.server, tmp_path, "rag", "search", "borrow", "checker", "--limit", "2", "--to-ws"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "2 hit(s) for 'borrow checker':"
    assert lines[1].startswith("  1. rust.md — Rust  (")
    assert "references never outlive their data" in lines[2]
    assert "hit 1 added to the workspace as rag-rust.md-1" in out
    files = {f.name for f in await client.rpc(api.WsList())}
    assert "rag-rust.md-1" in files and len(files) == 2 and "hit 2 added" in out
    shown = await client.rpc(api.WsShow(name="rag-rust.md-1"))
    assert "borrow checker" in (shown.text or "") and "rust.md" in shown.source

    code, out, _ = await cli(served.server, tmp_path, "rag", "search", "tea", "--mode", "bm25")
    assert code == 0 and out.splitlines()[1].startswith("  1. tea.md — Tea")
    code, out, _ = await cli(served.server, tmp_path, "rag", "drop", "tea.md")
    assert (code, out) == (0, "dropped tea.md\n")
    code, out, _ = await cli(served.server, tmp_path, "rag", "search", "zebra", "--mode", "bm25")
    assert code == 0 and out == "nothing found for 'zebra'\n"
    code, _, err = await cli(served.server, tmp_path, "rag", "show", "tea.md")
    assert code == 1 and err.count("\n") == 1 and "tea.md" in err


async def test_ask_with_rag_gives_the_turn_what_the_query_finds(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, tmp_path: Path
) -> None:
    served = await start(servers, upstream)
    client = connect(served.server, "cli", "pw")
    for name, text in (("okapi.md", OKAPI), ("tea.md", TEA)):
        await client.rpc(api.RagAdd(name=name, text=text, source=f"/docs/{name}"))
    upstream.push(Reply(chunks=["Shy [1]."]))
    code, out, err = await cli(
        served.server, tmp_path, "ask", "--rag", "okapi giraffid", "what is it like?"
    )
    assert (code, out) == (0, "Shy [1].\n"), err
    sent = str(upstream.requests[-1].body["messages"])
    assert "okapi.md — Okapi (/docs/okapi.md)" in sent and "striped legs" in sent
    upstream.push(Reply(chunks=["No documents."]))
    code, out, err = await cli(served.server, tmp_path, "ask", "plain question")
    assert code == 0, err
    assert "striped legs" not in str(upstream.requests[-1].body["messages"])


async def test_ctrl_c_stops_between_documents_and_keeps_those_stored(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, tmp_path: Path
) -> None:
    served = await start(servers, upstream, delay=0.15)
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(20):
        (folder / f"note{n:02}.md").write_text(f"# Note {n}\n\nThe number {n} is here.\n")
    env = cli_env(served.server, tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatthy",
        "rag",
        "add",
        "--batch",
        "1",
        str(folder),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        for _ in range(400):
            if len(served.added) >= 2:
                break
            await asyncio.sleep(0.025)
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 130, err
    client = connect(served.server, "cli", "pw")
    kept = await stored(client)
    assert 2 <= len(kept) < 20
    assert all(d.chunks == 1 for d in kept.values())  # none half-stored
    said = out.decode()
    assert said.startswith(f"interrupted after {len(kept)} of 20: added {len(kept)} documents")
    # run again: it resumes, sending only what is missing
    served.delay = 0.0
    before = len(served.added)
    code, out_again, _ = await cli(served.server, tmp_path, "rag", "add", str(folder))
    assert code == 0 and f"{len(kept)} unchanged" in out_again
    assert len(served.added) - before == 20 - len(kept)
    assert served.batches[-1] == 20 - len(kept)  # the rest in one batch: 64 at most


async def test_a_terminal_gets_a_progress_bar_with_files_chunks_and_rate(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, docs: Path
) -> None:
    served = await start(servers, upstream)
    client = connect(served.server, "cli", "pw")
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, color_system=None)
    found = plan([str(docs / "okapi.md"), str(docs / "tea.md"), str(docs / "huge.txt")])
    report = await Ingest(client, BarProgress(console)).run(found)
    assert (report.added, report.failed, report.chunks) == (2, 1, 2)
    drawn = screen.getvalue()
    assert "3/3 files" in drawn and "2 chunks" in drawn and "chunks/s" in drawn
    assert "skipped " in drawn and "huge.txt" in drawn  # the problem, above the bar


def test_files_go_in_batches_of_64_or_about_a_megabyte_and_urls_alone(tmp_path: Path) -> None:
    for n in range(70):
        (tmp_path / f"n{n:02}.md").write_text(f"note {n}\n")
    (tmp_path / "big.md").write_text("x" * 1_200_000)
    (tmp_path / "mid1.md").write_text("y" * 600_000)
    (tmp_path / "mid2.md").write_text("z" * 600_000)
    names = [str(tmp_path / f"n{n:02}.md") for n in range(70)]
    last = [str(tmp_path / name) for name in ("big.md", "mid1.md", "mid2.md")]
    found = plan([*names[:3], "https://example.org/page", *names[3:], *last])
    sizes = [(len(group), group[0].path is None) for group in batches(found.items, BATCH_FILES)]
    assert sizes == [
        (3, False),
        (1, True),
        (64, False),
        (3, False),
        (1, False),
        (1, False),
        (1, False),
    ]
    assert [len(g) for g in batches(found.items[:10], 4)] == [3, 1, 4, 2]
