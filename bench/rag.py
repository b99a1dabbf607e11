"""The RAG figures of issue 13, each against its target: how fast documents go in, how
fast a search over 100,000 chunks answers, what a large ingest costs the server's other
clients, and how well the three kinds of search find the labelled set's answers.

    python bench/rag.py                    # every part (a few minutes)
    python bench/rag.py --only ingest      # chunks/s through RagService and rag_add_many
    python bench/rag.py --only folder      # `chatthy rag add FOLDER`: 1,000 pages
    python bench/rag.py --only query       # p50/p95/p99 of hybrid search, 100,000 chunks
    python bench/rag.py --only stalls      # another client's stream during a large ingest
    python bench/rag.py --only quality     # recall@10, nDCG@10: bm25, vector, hybrid

The text is Python's own help (``bench/rag_labelled.py``'s corpus: the help topics and
module docstrings) cut into paragraphs, shuffled and dealt into pages of about 500
words, so that chunks are prose and code of the kind people store, not lorem ipsum, and
no part needs the network. "One core" is the bench process (in-process parts) or every
thread of the server process (``os.sched_setaffinity``, each task in ``/proc/PID/task``;
threads made later inherit it) pinned to CPU ``--cpu``; the bench's client then runs on
the other CPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from _harness import PASSPHRASE, PROFILE, Processes, cpu_seconds
from _stalls import _stream_and_ping, pct
from chatthy.client.core import Client
from chatthy.config import ServerConfig
from chatthy.errors import ChatthyError, RateLimitedError
from chatthy.rag.chunk import chunk_text
from chatthy.rag.index import MODES, Document, Mode
from chatthy.rag.service import RagService, Text
from chatthy.store.sqlite import SQLiteStore
from chatthy.wire import api
from chatthy.wire.signing import derive_key
from rag_labelled import QUERIES, corpus
from rag_metrics import Scores, documents, ndcg_at, recall_at

BENCH_PROFILE = "bench"
HEAVY = "heavy"
"""The profile whose ingest runs beside the measured stream."""
LIFTED = (
    "[limits]\nconnection_rate = 1000.0\nconnection_burst = 10000\n"
    "profile_rate = 1000.0\nprofile_burst = 10000\n"
)
"""The server's rate limits lifted: the figures are the server's work, not its limits."""


# the text -------------------------------------------------------------------------------
def paragraphs() -> list[str]:
    """Every paragraph of the labelled corpus with at least eight words, whitespace
    kept (code stays code)."""
    found: list[str] = []
    for text in corpus().values():
        for part in re.split(r"\n\s*\n", text):
            if len(part.split()) >= 8:
                found.append(part.strip("\n"))
    return found


def pages(n: int, words: int = 500, seed: int = 13) -> list[str]:
    """``n`` Markdown pages of about ``words`` words: a heading, then paragraphs drawn
    at random from :func:`paragraphs` (the pool dealt again, reshuffled, when used up)."""
    rng = random.Random(seed)
    pool = paragraphs()
    deck: list[str] = []
    out: list[str] = []
    for number in range(n):
        body: list[str] = []
        count = 0
        while count < words:
            if not deck:
                deck = pool[:]
                rng.shuffle(deck)
            part = deck.pop()
            body.append(part)
            count += len(part.split())
        out.append(f"# Page {number + 1}\n\n" + "\n\n".join(body) + "\n")
    return out


def write_pages(folder: Path, texts: Sequence[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number, text in enumerate(texts, 1):
        (folder / f"page-{number:04d}.md").write_text(text)


# shared ---------------------------------------------------------------------------------
@contextlib.contextmanager
def one_core(cpu: int) -> Iterator[None]:
    """This process (and the threads it makes meanwhile) on CPU ``cpu`` only."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def pin_process(pid: int, cpus: set[int]) -> int:
    """Every thread of process ``pid`` on ``cpus``; how many threads there were."""
    tasks = list(Path(f"/proc/{pid}/task").iterdir())
    for task in tasks:
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), cpus)
    return len(tasks)


def other_cpus(cpu: int) -> set[int]:
    return (os.sched_getaffinity(0) - {cpu}) or {cpu}


@contextlib.asynccontextmanager
async def service_in(folder: Path) -> AsyncIterator[RagService]:
    """A RagService with the server's default settings over a new SQLite file."""
    store = await SQLiteStore.open(folder / "chatthy.db")
    try:
        yield RagService(ServerConfig(), store)
    finally:
        await store.aclose()


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def client(procs: Processes, profile: str = PROFILE, passphrase: str = PASSPHRASE) -> Client:
    made = Client(procs.address, profile, derive_key(passphrase, profile), timeout=600)
    made.connect()
    return made


# 1. ingest rate ---------------------------------------------------------------------------
async def ingest(cpu: int, n_pages: int, words: int, batch: int) -> dict[str, float]:
    """Chunks/s through RagService.add_many (``batch`` pages a call, as the server takes
    a ``rag_add_many``) in this process pinned to one core, then one page a call
    (RagService.add, as ``rag_add``), with the time split into cutting, embedding and
    storing; then through a server's rag_add_many."""
    texts = pages(n_pages, words)
    figures: dict[str, float] = {}
    with one_core(cpu), tempfile.TemporaryDirectory(prefix="chatthy-rag-") as tmp:
        async with service_in(Path(tmp)) as service:
            await service.embedder.embed(["the model is read before the clock starts"])
            settings = service.config.rag
            named = [Text(f"page-{n:04d}.md", text) for n, text in enumerate(texts)]
            for label, step, profile in (
                ("batches", batch, BENCH_PROFILE),
                ("one by one", 1, "single"),
            ):
                start = time.perf_counter()
                cpu0 = time.process_time()
                chunks = 0
                for at in range(0, len(named), step):
                    for outcome in await service.add_many(profile, named[at : at + step]):
                        assert not isinstance(outcome, ChatthyError), outcome
                        chunks += outcome[0].chunks
                wall = time.perf_counter() - start
                used = time.process_time() - cpu0
                key = "service" if step > 1 else "single"
                figures.update(
                    {
                        f"{key}_chunks": chunks,
                        f"{key}_rate": chunks / wall,
                        f"{key}_cpu": used / wall,
                    }
                )
                target = " [target >= 2,000]" if step > 1 else ""
                print(
                    f"ingest: RagService, one core (CPU {cpu}), {label} ({step} a call):"
                    f" {n_pages} pages, {chunks:,} chunks in {wall:.2f} s:"
                    f" {chunks / wall:,.0f} chunks/s{target}"
                )
            # the same work, step by step, on another profile: where the time goes
            t0 = time.perf_counter()
            cut = [
                chunk_text(
                    t, "markdown", size=settings.chunk_tokens, overlap=settings.overlap_tokens
                )
                for t in texts
            ]
            t1 = time.perf_counter()
            vectors = [await service.embedder.embed([c.text for c in cs]) for cs in cut]
            t2 = time.perf_counter()
            documents = [
                Document(f"page-{n:04d}.md", text, "", cs, vs)
                for n, (text, cs, vs) in enumerate(zip(texts, cut, vectors, strict=True))
            ]
            for at in range(0, len(documents), batch):
                await service.index.add_many(
                    "split", documents[at : at + batch], service.embedder.name
                )
            t3 = time.perf_counter()
    total_words = sum(len(t.split()) for t in texts)
    figures.update(cut_s=t1 - t0, embed_s=t2 - t1, store_s=t3 - t2)
    print(
        f"ingest:   {total_words:,} words, {total_words / figures['service_chunks']:.0f} a chunk;"
        f" step by step: cut {t1 - t0:.2f} s, embed {t2 - t1:.2f} s,"
        f" store {t3 - t2:.2f} s in batches"
    )

    with Processes(server_toml=LIFTED) as procs:
        threads = pin_process(procs.server.pid, {cpu})
        os.sched_setaffinity(0, other_cpus(cpu))
        try:
            rpc_client = client(procs)
            try:
                await rpc_client.rpc(api.RagAdd(name="warm.md", text="the model is read first"))
                chunks = 0
                cpu0 = cpu_seconds(procs.server.pid)
                start = time.perf_counter()
                for at in range(0, len(named), batch):
                    call = api.RagAddMany(
                        documents=[
                            api.RagText(name=t.name, text=t.text) for t in named[at : at + batch]
                        ]
                    )
                    for answered in await rpc_client.rpc(call):
                        assert answered.document is not None, answered.error
                        chunks += answered.document.chunks
                wall = time.perf_counter() - start
                used = cpu_seconds(procs.server.pid) - cpu0
            finally:
                await rpc_client.aclose()
        finally:
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    figures.update(rpc_chunks=chunks, rpc_rate=chunks / wall, rpc_server_cpu=used / wall)
    print(
        f"ingest: rag_add_many RPC ({batch} pages a call) to a server pinned to CPU {cpu}"
        f" ({threads} threads): {chunks:,} chunks in {wall:.2f} s:"
        f" {chunks / wall:,.0f} chunks/s (server CPU {used / wall:.0%} of one core)"
    )
    return figures


# 2. a folder through the command ----------------------------------------------------------
def folder(n_pages: int, client_src: Path | None) -> dict[str, float]:
    """``chatthy rag add FOLDER`` of ``n_pages`` pages against a real server, its
    progress bar on this terminal; the command from ``client_src`` (a ``src`` folder of
    another tree) if given, the server from this one."""
    figures: dict[str, float] = {}
    with Processes(server_toml=LIFTED) as procs:
        env = procs.env()
        if client_src is not None:
            env["PYTHONPATH"] = str(client_src.resolve())
        command = [sys.executable, "-m", "chatthy", "rag", "add"]
        probe = subprocess.run(
            [*command, "--help"], env=env, capture_output=True, text=True, timeout=60
        )
        if probe.returncode != 0 or not probe.stdout.startswith("usage: chatthy rag add"):
            # (an unknown command word falls through to the TUI's own help)
            print("folder: skipped: `chatthy rag add` is not in this tree")
            return figures
        where = procs.home / "pages"
        texts = pages(n_pages)
        write_pages(where, texts)
        size = sum(len(t.encode()) for t in texts)
        print(f"folder: chatthy rag add {where} ({n_pages} files, {size / 1e6:.1f} MB) …")
        start = time.perf_counter()
        done = subprocess.run([*command, str(where)], env=env, timeout=1800)
        wall = time.perf_counter() - start
        listed = asyncio.run(_listed(procs))
    chunks = sum(d.chunks for d in listed)
    figures.update(files=len(listed), chunks=chunks, seconds=wall, rate=chunks / wall)
    print(
        f"folder: exit {done.returncode}; {len(listed)} of {n_pages} files stored, {chunks:,}"
        f" chunks in {wall:.2f} s (the whole command, start-up included):"
        f" {chunks / wall:,.0f} chunks/s, {len(listed) / wall:,.0f} files/s"
    )
    return figures


async def _listed(procs: Processes) -> list[api.RagDocumentInfo]:
    lister = client(procs)
    try:
        return await lister.rpc(api.RagList())
    finally:
        await lister.aclose()


# 3. query latency -------------------------------------------------------------------------
async def build_chunks(service: RagService, total: int, per_document: int = 500) -> float:
    """Fill the bench profile with ``total`` chunks of about 120 words (pages of the
    paragraphs of :func:`pages`, cut as the server cuts them: ``[rag] chunk_tokens`` and
    ``overlap_tokens``), embedded by the real embedder and put through RagIndex.add,
    about ``per_document`` chunks a document, two documents at a time (one embeds while
    the other is stored). Seconds taken."""
    start = time.perf_counter()
    page_words = 120 * per_document
    size, overlap = service.config.rag.chunk_tokens, service.config.rag.overlap_tokens
    counter = iter(range(1 << 30))
    made = 0
    lock = asyncio.Lock()

    async def one_document() -> bool:
        nonlocal made
        async with lock:
            if made >= total:
                return False
            number = next(counter)
            (text,) = pages(1, page_words, seed=number)
            cut = chunk_text(text, "markdown", size=size, overlap=overlap)[: total - made]
            made += len(cut)
        vectors = await service.embedder.embed([c.text for c in cut])
        await service.index.add(
            BENCH_PROFILE, f"big-{number:04d}.md", text, "", cut, vectors, service.embedder.name
        )
        return True

    async def worker() -> None:
        while await one_document():
            pass

    await asyncio.gather(worker(), worker())
    return time.perf_counter() - start


async def query(total: int, n_queries: int, keep: Path | None) -> dict[str, float]:
    """p50/p95/p99 of RagService.search (hybrid, the query's embedding included) over
    ``total`` chunks; bm25 and vector alone beside it."""
    with tempfile.TemporaryDirectory(prefix="chatthy-rag-") as tmp:
        where = keep or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        async with service_in(where) as service:
            stored = sum(d.chunks for d in await service.documents(BENCH_PROFILE))
            if stored < total:
                print(f"query: storing {total - stored:,} chunks …", flush=True)
                took = await build_chunks(service, total - stored)
                print(f"query: stored in {took:.1f} s")
            stored = sum(d.chunks for d in await service.documents(BENCH_PROFILE))
            questions = [QUERIES[i % len(QUERIES)].text for i in range(n_queries)]
            start = time.perf_counter()
            await service.search(BENCH_PROFILE, questions[0])
            cold = time.perf_counter() - start
            figures: dict[str, float] = {"chunks": stored, "cold_ms": cold * 1000}
            print(
                f"query: {stored:,} chunks; the first search (reads the vector matrix)"
                f" {cold * 1000:.0f} ms"
            )
            # hybrid twice: each question's first time (the pages of its words' lists
            # read from the file, through the OS's cache), then again (SQLite's own cache)
            runs: list[tuple[Mode, str]] = [("hybrid", "first"), ("hybrid", "again")]
            runs += [(m, "again") for m in MODES if m != "hybrid"]
            for mode, seen in runs:
                times = []
                for text in questions:
                    start = time.perf_counter()
                    await service.search(BENCH_PROFILE, text, 10, mode)
                    times.append((time.perf_counter() - start) * 1000)
                p50, p95, p99 = (pct(times, p) for p in (50, 95, 99))
                figures.update({f"{mode}_{seen}_p50": p50, f"{mode}_{seen}_p95": p95})
                target = " [target <= 50 ms]" if mode == "hybrid" else ""
                print(
                    f"query: {mode:6} {seen:5} {n_queries} searches, limit 10: p50 {p50:.1f} ms,"
                    f" p95 {p95:.1f} ms{target}, p99 {p99:.1f} ms, max {max(times):.1f} ms"
                )
    return figures


# 4. stalls --------------------------------------------------------------------------------
def _heavy(address: str, total: int, events: tuple[Any, Any, Any], results: Any) -> None:
    """In a process of its own: make its pages and say so (``ready``); on ``first``, its
    first rag_add (the server reads the embedder then); on ``go``, store ``total``
    chunks as ``chatthy rag add`` sends a folder: pages of about 500 words, 64 to a
    rag_add_many, two requests at a time; put the figures on ``results``."""
    asyncio.run(_heavy_ingest(address, total, events, results))


async def _heavy_ingest(
    address: str, total: int, events: tuple[Any, Any, Any], results: Any
) -> None:
    ready, first, go = events
    sender = Client(address, HEAVY, derive_key("heavy-secret", HEAVY), timeout=600)
    sender.connect()
    texts = pages(max(1, total // 4 + 64), 500, seed=1)
    batches = [
        [api.RagText(name=f"heavy-{n}.md", text=t) for n, t in enumerate(texts)][at : at + 64]
        for at in range(0, len(texts), 64)
    ]
    stored = 0
    try:
        await sender.call("status")
        ready.set()
        await asyncio.to_thread(first.wait)
        await sender.rpc(api.RagAdd(name="first.md", text="the embedder is read now"))
        await asyncio.to_thread(go.wait)
        start = time.perf_counter()

        async def send() -> None:
            nonlocal stored
            while batches and stored < total:
                batch = batches.pop(0)
                try:
                    outcomes = await sender.rpc(api.RagAddMany(documents=batch))
                except RateLimitedError as exc:
                    batches.insert(0, batch)
                    await asyncio.sleep(exc.retry_after or 0.1)
                    continue
                stored += sum(o.document.chunks for o in outcomes if o.document is not None)

        await asyncio.gather(send(), send())
        results.put({"chunks": stored, "seconds": time.perf_counter() - start})
    finally:
        await sender.aclose()


def _gaps(gaps: list[float], status_ms: list[float], target: str = "") -> str:
    return (
        f"largest gap {max(gaps, default=float('nan')) * 1000:.1f} ms{target}"
        f" (p99 {pct(gaps, 99) * 1000:.1f} ms, {sum(g > 0.05 for g in gaps)} of"
        f" {len(gaps)} over 50 ms); status p99 {pct(status_ms, 99):.1f} ms"
    )


async def stalls(total: int) -> dict[str, float]:
    """Another profile streams replies of chunks 5 ms apart (and asks ``status`` every
    20 ms) while the heavy profile, in a process of its own, ingests ``total`` chunks
    through the same server: the stream's largest gap. Before it, the same stream with
    nothing else running (this machine's floor) and during the heavy profile's first
    rag_add (the server reads wordllama then)."""
    spawn = multiprocessing.get_context("spawn")
    events = (spawn.Event(), spawn.Event(), spawn.Event())
    ready, first, go = events
    results = spawn.Queue()
    with Processes(server_toml=LIFTED) as procs:
        heavy = spawn.Process(target=_heavy, args=(procs.address, total, events, results))
        victim, pinger = client(procs), client(procs)
        heavy.start()
        try:
            await victim.call("status")
            await pinger.call("status")
            await asyncio.to_thread(ready.wait, 120)
            await _stream_and_ping(victim, pinger, 0.5, "warm")  # the first reply's imports
            _, quiet_gaps, quiet_status = await _stream_and_ping(victim, pinger, 3.0, "quiet")
            first.set()
            _, first_gaps, first_status = await _stream_and_ping(victim, pinger, 3.0, "first")
            go.set()
            gaps: list[float] = []
            status_ms: list[float] = []
            streams = 0
            cpu0 = cpu_seconds(procs.server.pid)
            while heavy.is_alive() and results.empty():
                _, more, more_status = await _stream_and_ping(victim, pinger, 2.0, f"l{streams}")
                gaps += more
                status_ms += more_status
                streams += 1
            done = await asyncio.to_thread(results.get, True, 600)
            used = cpu_seconds(procs.server.pid) - cpu0
            await asyncio.to_thread(heavy.join, 60)
        finally:
            for event in events:
                event.set()
            if heavy.is_alive():
                heavy.terminate()
            for each in (victim, pinger):
                await each.aclose()
    figures = {
        "ingest_chunks": done["chunks"],
        "ingest_s": done["seconds"],
        "gap_max_ms": max(gaps, default=float("nan")) * 1000,
        "gaps_over_50ms": sum(g > 0.05 for g in gaps),
        "status_p99_ms": pct(status_ms, 99),
        "first_gap_max_ms": max(first_gaps, default=float("nan")) * 1000,
        "quiet_gap_max_ms": max(quiet_gaps, default=float("nan")) * 1000,
    }
    print(
        f"stalls: the heavy profile stored {done['chunks']:,} chunks in {done['seconds']:.1f} s"
        f" ({done['chunks'] / done['seconds']:,.0f} chunks/s, server CPU {used:.1f} s)"
    )
    print(f"stalls: meanwhile, {streams} streams: {_gaps(gaps, status_ms, ' [target <= 50 ms]')}")
    print(f"stalls: nothing else running (the floor): {_gaps(quiet_gaps, quiet_status)}")
    print(f"stalls: during the first rag_add (wordllama read): {_gaps(first_gaps, first_status)}")
    return figures


# 5. retrieval quality ---------------------------------------------------------------------
async def quality(depth: int = 50, k: int = 10) -> dict[str, Scores]:
    """recall@k and nDCG@k of each search mode over the labelled set, stored through
    RagService.add (the server's chunking, wordllama vectors, FTS5)."""
    texts = corpus()
    out: dict[str, Scores] = {}
    with tempfile.TemporaryDirectory(prefix="chatthy-rag-") as tmp:
        async with service_in(Path(tmp)) as service:
            chunks = 0
            for name, text in texts.items():
                record, _ = await service.add(BENCH_PROFILE, name, text)
                chunks += record.chunks
            for mode in MODES:
                recall = ndcg = 0.0
                for q in QUERIES:
                    hits = await service.search(BENCH_PROFILE, q.text, depth, mode)
                    ranked = documents(hit.document for hit in hits)
                    recall += recall_at(ranked, q.relevant, k)
                    ndcg += ndcg_at(ranked, q.relevant, k)
                out[mode] = Scores(recall / len(QUERIES), ndcg / len(QUERIES))
    print(
        f"quality: {len(texts)} documents, {chunks:,} chunks, {len(QUERIES)} questions;"
        f" top {depth} chunks asked, documents counted to {k}"
    )
    for name, scores in out.items():
        print(f"quality: {name:6} recall@{k} {scores.recall:.3f}  nDCG@{k} {scores.ndcg:.3f}")
    best_single = max(out["bm25"].ndcg, out["vector"].ndcg)
    beats = out["hybrid"].ndcg > best_single and out["hybrid"].recall > max(
        out["bm25"].recall, out["vector"].recall
    )
    print(f"quality: hybrid beats both on both measures: {'yes' if beats else 'NO'}")
    return out


PARTS = ("ingest", "folder", "query", "stalls", "quality")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=PARTS, action="append")
    parser.add_argument("--cpu", type=int, default=0, help="the one core (default 0)")
    parser.add_argument("--pages", type=int, default=1000, help="pages for ingest and folder")
    parser.add_argument("--words", type=int, default=500, help="ingest: words a page")
    parser.add_argument("--batch", type=int, default=64, help="ingest: pages a call")
    parser.add_argument(
        "--client-src", type=Path, help="folder: run `chatthy rag add` from this src folder"
    )
    parser.add_argument("--chunks", type=int, default=100_000, help="chunks for query")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--keep", type=Path, help="query: keep (and reuse) its database here")
    parser.add_argument("--stall-chunks", type=int, default=20_000)
    args = parser.parse_args()
    parts = args.only or PARTS
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, load {load_average()}")
    if "ingest" in parts:
        asyncio.run(ingest(args.cpu, args.pages, args.words, args.batch))
    if "folder" in parts:
        folder(args.pages, args.client_src)
    if "query" in parts:
        asyncio.run(query(args.chunks, args.queries, args.keep))
    if "stalls" in parts:
        asyncio.run(stalls(args.stall_chunks))
    if "quality" in parts:
        asyncio.run(quality())
    print(f"load at the end {load_average()}")


if __name__ == "__main__":
    main()
