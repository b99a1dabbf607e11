"""The one entry point: ``chatthy [tui] | repl | serve | ask | chats | export | import | ws``….

Imports stay inside the commands so that ``chatthy ask`` never loads the server, the
provider SDKs, Textual or anything else heavy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from chatthy import __version__

if TYPE_CHECKING:
    from chatthy.client.attachments import ImagePartIn
    from chatthy.config import ServerConfig

__all__ = ["main"]

T = TypeVar("T")

_PATHS = "paths"
"""Marks an argument that names local files, for the shell completion scripts (shtab is
imported only by ``chatthy completion``: it costs ~40 ms)."""


def _paths(action: argparse.Action) -> None:
    action.complete = _PATHS  # type: ignore[attr-defined]


def _positive(text: str) -> int:
    """An argument that is a count of at least 1 (argparse's type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number is needed, not '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"at least 1, not {value}")
    return value


def _client_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--server",
        help="server address (default: client.toml, CHATTHY_SERVER, else tcp://127.0.0.1:23456)",
    )
    p.add_argument(
        "--profile",
        help="profile name (default: CHATTHY_PROFILE, client.toml, else your login name)",
    )


def parse_option(word: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of ``-o`` as a generation parameter: VALUE is text unless it reads
    as JSON — a number, ``true``/``false``/``null``, a quoted string, a list or an
    object — so ``temperature=0.2`` is a number, ``stop='"\\n"'`` a newline, and
    ``user=2024`` a number but ``user='"2024"'`` text.

    Raises:
        argparse.ArgumentTypeError: no ``=``, or nothing before it.
    """
    key, sep, value = word.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(
            f"KEY=VALUE wanted, e.g. -o temperature=0.2 (not {word!r})"
        )
    try:
        parsed = json.loads(value, parse_constant=_no_constant)
    except ValueError:
        return key, value
    if isinstance(parsed, float) and not math.isfinite(parsed):
        return key, value  # 1e999
    return key, parsed


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _option_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-o",
        "--option",
        dest="options",
        action="append",
        type=parse_option,
        default=[],
        metavar="KEY=VALUE",
        help="a generation parameter for this turn, sent to the provider as it is "
        "(repeatable): -o temperature=0.2 -o stop='\"END\"'; VALUE is text unless it "
        "reads as JSON (a number, true, false, null, a quoted string, a list)",
    )


def _chat_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--chat", help="chat name (created if missing)")
    p.add_argument("--provider", help="provider for this chat")
    p.add_argument("--prompt", help="personality (saved system prompt) for this chat")
    p.add_argument(
        "--agent",
        dest="prompt",
        metavar="NAME",
        help="the server's agent NAME (agents/NAME.md: a personality with its own tools "
        "and model) for this chat",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatthy",
        description="Chats with LLMs: one server keeps them all, any number of terminal "
        "clients connect to it.",
    )
    parser.add_argument("--version", action="version", version=f"chatthy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("serve", help="run the server")
    _paths(p.add_argument("--config", type=Path, help="server.toml to use"))
    p.add_argument("--listen", help="address to listen on, e.g. tcp://127.0.0.1:23456")

    p = sub.add_parser(
        "router",
        help="serve the providers and tools as an OpenAI-compatible HTTP API",
        description="POST /v1/chat/completions and GET /v1/models over the providers of "
        "server.toml, running the server's tools; [router] in server.toml sets the keys.",
    )
    _paths(p.add_argument("--config", type=Path, help="server.toml to use"))
    p.add_argument("--listen", help="HOST:PORT to listen on (default: [router] listen)")

    p = sub.add_parser("tui", help="the full-screen client (the default command)")
    _client_flags(p)
    _chat_flags(p)

    p = sub.add_parser(
        "tk",
        help="the Tk window (a desktop client on the same session as the others)",
        description="A window with your chats, the conversation rendered (Markdown, code "
        "with a copy button, images), the commands of the other clients (Tab completes) "
        "and pickers for the model, the personality and the workspace. F1 lists its keys. "
        "The passphrase is asked in a dialog when client.toml and CHATTHY_PASSPHRASE hold "
        "none, and again when the server refuses it.",
    )
    _client_flags(p)
    _chat_flags(p)
    p.add_argument(
        "--theme",
        choices=("system", "light", "dark"),
        default="system",
        help="colours (default: what the desktop says, else light)",
    )

    p = sub.add_parser(
        "do",
        help="run one client command, as typed in the clients (also: chatthy /NAME …)",
        description="Run one command of the clients' command table (or any server "
        "command as NAME key=value …) and print its output: `chatthy do /search giraffe`, "
        "`chatthy /ws list`, `chatthy --chat notes /export notes.md`. `chatthy do /help` "
        "lists the commands. Exit status: 0, or 1 with a one-line reason on stderr.",
    )
    _client_flags(p)
    p.add_argument("--chat", help="the chat commands about a chat act on (default: default)")
    p.add_argument("words", nargs=argparse.REMAINDER, metavar="/NAME [ARG…]")

    p = sub.add_parser("repl", help="a plain line client")
    _client_flags(p)
    _chat_flags(p)

    p = sub.add_parser(
        "ask",
        help="one turn: send TEXT (or stdin), stream the reply",
        description="Send one message and stream the reply to stdout. stdin is read only "
        "when no TEXT is given, or where a TEXT word is exactly '-' (replaced by stdin's "
        "content): `chatthy ask hello` never waits on stdin. Without --chat, each question "
        "gets a new chat. Exit status: 0 when the reply completed; 1 with a one-line reason "
        "on stderr when it failed, was cancelled or interrupted; 130 on Ctrl-C (the reply "
        "is cancelled on the server).",
    )
    _client_flags(p)
    _chat_flags(p)
    p.add_argument("--model", help="model to use (default: the provider's)")
    p.add_argument(
        "--yes",
        action="store_true",
        help="run the model's tool calls that change something (workspace writes, fetches) "
        "without asking; without it they are refused and the model is told",
    )
    _option_flag(p)
    p.add_argument(
        "--rag",
        metavar="QUERY",
        help="search your documents (chatthy rag) for QUERY: what it finds goes into this "
        "turn's context, numbered for the model to cite",
    )
    p.add_argument(
        "--rag-provider",
        metavar="NAME",
        help="with --rag: provider NAME's model rescores and winnows what the search finds",
    )
    _paths(
        p.add_argument(
            "--attach",
            action="append",
            type=Path,
            default=[],
            metavar="PATH",
            help="send this file or folder with the question, never stored (repeatable)",
        )
    )
    _paths(
        p.add_argument(
            "--image",
            action="append",
            type=Path,
            default=[],
            metavar="PATH",
            help="send this image (PNG, JPEG, GIF, WebP) with the question; one larger than "
            "2048 pixels or 3 MB is downscaled first (repeatable)",
        )
    )
    p.add_argument(
        "text",
        nargs="*",
        help="the message; a word '-' is replaced by stdin; with no TEXT, stdin is the message",
    )

    p = sub.add_parser(
        "template",
        help="run an instruction template (summarise, translate, …), stream the reply",
        description="Run the instruction template NAME on FILE, a local file (sent for "
        "this turn only, never stored) or else a workspace file, or, without FILE, on the "
        "chat named by --chat (which --provider, --prompt and --model apply to as for "
        "ask). key=value words fill the template's placeholders "
        "(`chatthy templates` lists them). The reply streams to stdout and is stored in the "
        "chat (a new one without --chat). Exit status as for ask.",
    )
    _client_flags(p)
    _chat_flags(p)
    p.add_argument("--model", help="model to use (default: the provider's)")
    _option_flag(p)
    p.add_argument("name", help="the template: summarise, extract, explain, critique, …")
    _paths(p.add_argument("words", nargs="*", metavar="FILE|key=value"))

    p = sub.add_parser("templates", help="list the instruction templates and their placeholders")
    _client_flags(p)

    p = sub.add_parser(
        "chain",
        help="run a tool chain on a file or stdin (alone: list the chains)",
        description="Run the server's tool chain NAME (chains/NAME.toml: template and tool "
        "steps, each fed the output of the one before) on FILE's text, or stdin's; print "
        "the last step's output. Without NAME, list the chains.",
    )
    _client_flags(p)
    p.add_argument("name", nargs="?", help="the chain")
    _paths(p.add_argument("file", nargs="?", metavar="FILE", help="its input (else stdin)"))

    p = sub.add_parser("tools", help="list the server's tools (⚠: asks before it runs)")
    _client_flags(p)

    p = sub.add_parser(
        "mcp",
        help="MCP servers: list them, import a Claude Desktop/Cursor config, serve a workspace",
        description="The MCP servers whose tools the chat server uses ([mcp_servers.NAME] "
        "in server.toml), and chatthy's own MCP server over a profile's workspace.",
    )
    msub = p.add_subparsers(dest="mcp_command", metavar="ACTION", required=True)
    q = msub.add_parser(
        "list",
        help="each MCP server of the chat server: its state, its tools",
        description="Each [mcp_servers.NAME] of the chat server: transport, state (one "
        "not used yet is started), the last error, its tools as models see them "
        "(SERVER__TOOL), its prompts and resources.",
    )
    _client_flags(q)
    q = msub.add_parser(
        "import",
        help="add the mcpServers of a JSON file (Claude Desktop, Cursor, oterm) to server.toml",
        description="Read FILE's mcpServers (as Claude Desktop, Claude Code, Cursor, Cline "
        "and oterm write it) and add each server to server.toml as [mcp_servers.NAME], "
        "keeping the rest of the file as it is. Nothing is written when any entry is wrong "
        "or a name is taken (--replace replaces those). Values are written as given, "
        "secrets in env and headers too: write ${VAR} there instead, in FILE or in "
        "server.toml after, and the chat server takes the value from its environment. "
        "Restart `chatthy serve` to use them.",
    )
    _paths(q.add_argument("file", metavar="FILE", help="the JSON file (- for stdin)"))
    _paths(q.add_argument("--config", type=Path, help="server.toml to add them to"))
    q.add_argument(
        "--replace", action="store_true", help="replace servers of the same name already there"
    )
    q = msub.add_parser(
        "serve",
        help="serve a profile's workspace to MCP clients (stdio, or streamable HTTP)",
        description="Be an MCP server over one profile's workspace (workspace_list, "
        "workspace_read): over stdio for Claude Desktop and the like, or over streamable "
        "HTTP with --http, where clients send the bearer token.",
    )
    _paths(q.add_argument("--config", type=Path, help="server.toml to use"))
    q.add_argument(
        "--profile",
        help="whose workspace (default: CHATTHY_PROFILE, client.toml, else your login name)",
    )
    q.add_argument(
        "--http",
        metavar="HOST:PORT",
        help="serve streamable HTTP at /mcp here (beyond loopback only with a chosen token)",
    )
    q.add_argument(
        "--token",
        help="the bearer token HTTP clients must send (default: $CHATTHY_MCP_TOKEN, "
        "else one is made and printed)",
    )

    p = sub.add_parser("chats", help="list your chats")
    _client_flags(p)
    p.add_argument("--personality", help="only chats of this personality")

    p = sub.add_parser(
        "export",
        help="write a chat as Markdown or JSON",
        description="Write a chat: md (Markdown, the default), json (chatthy's, every "
        "field), or openai (the messages list as /v1/chat/completions takes it).",
    )
    _client_flags(p)
    p.add_argument("chat")
    p.add_argument("--format", choices=("md", "json", "openai"), default="md")
    _paths(p.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)"))

    p = sub.add_parser(
        "import",
        help="create a chat from a JSON or Markdown file, or chats from a ChatGPT or Claude export",
        description="Create a chat from chatthy JSON or Markdown, or an OpenAI messages "
        "list; or a chat per conversation from a ChatGPT or claude.ai conversations.json "
        "export (the branch last shown of each).",
    )
    _client_flags(p)
    _paths(p.add_argument("file", type=Path))
    p.add_argument(
        "--chat",
        help="name of the new chat (default: the file's; of an export, the first chat's, "
        "the others named after it)",
    )

    _ws_parser(sub)
    _rag_parser(sub)
    _prompts_parser(sub)

    p = sub.add_parser("config", help="configuration files")
    p.add_argument(
        "action",
        choices=("init", "path", "key", "profile-key"),
        help="init: write commented defaults where missing; path: show where; "
        "key: show this machine's server key (made if missing); profile-key: show your "
        "profile's key fingerprint and its public key for server.toml",
    )
    p.add_argument(
        "--profile",
        help="profile-key: profile name (default: CHATTHY_PROFILE, client.toml, else your "
        "login name)",
    )

    p = sub.add_parser(
        "passphrase",
        help="change your profile's passphrase (the server replaces its key)",
    )
    _client_flags(p)

    p = sub.add_parser(
        "run",
        help="start an embedded server and chat with it (full-screen on a terminal, "
        "else the line client)",
    )
    _chat_flags(p)

    p = sub.add_parser(
        "completion",
        help='print the shell completion script: eval "$(chatthy completion bash)"',
        description="Print a completion script for SHELL: commands, options and local "
        'paths complete with Tab. bash: add `eval "$(chatthy completion bash)"` to '
        "~/.bashrc; zsh: `chatthy completion zsh > ~/.zfunc/_chatthy` with ~/.zfunc on "
        "fpath before compinit.",
    )
    p.add_argument("shell", choices=("bash", "zsh", "tcsh"))
    return parser


def _ws_parser(sub: Any) -> None:
    p = sub.add_parser(
        "ws",
        help="the context workspace: documents sent before every chat's history",
        description="Manage your context workspace. `ws add PATH…` adds files, or folders "
        "(each file named FOLDER/its/path, honouring the folder's .gitignore; binary and "
        "oversized files are skipped with a notice); `ws add NAME < file` adds piped text "
        "when NAME is not an existing path; `ws url|youtube|arxiv|wikipedia|news …` has the "
        "server fetch a source into it, `ws fetch SOURCE …` any source it offers (`ws "
        "sources` lists them, plugins' too).",
    )
    ws = p.add_subparsers(dest="ws_command", metavar="ACTION", required=True)
    q = ws.add_parser("add", help="add files or folders, or piped text as NAME")
    _client_flags(q)
    _paths(q.add_argument("paths", nargs="+", metavar="PATH|NAME"))
    q = ws.add_parser("list", help="list the workspace files with their token counts")
    _client_flags(q)
    for action, help_text in (
        ("show", "print a file's text"),
        ("bench", "keep a file but stop sending it"),
        ("restore", "send a benched file again"),
        ("drop", "delete a file"),
    ):
        q = ws.add_parser(action, help=help_text)
        _client_flags(q)
        q.add_argument("name")
    q = ws.add_parser("rename", help="rename a file")
    _client_flags(q)
    q.add_argument("name")
    q.add_argument("new")
    q = ws.add_parser(
        "mcp",
        help="add a resource of one of the chat server's MCP servers",
        description="Have the chat server read resource URI of its MCP server SERVER "
        "([mcp_servers.SERVER]) into your workspace, as mcp-SERVER-… unless --name.",
    )
    _client_flags(q)
    q.add_argument("mcp_server", metavar="SERVER")
    q.add_argument("uri", metavar="URI")
    q.add_argument("--name", help="store it under this name instead")
    _ws_source_parsers(ws)


def _rag_parser(sub: Any) -> None:
    p = sub.add_parser(
        "rag",
        help="your documents: add, list, show, drop and search them (RAG)",
        description="The document store: documents cut into chunks and indexed, searched "
        "by words (BM25) and by meaning (vectors) at once. `rag add` stores files, folders "
        "(read as `ws add` reads them), URLs and arxiv:ID (fetched by the server); run "
        "again, it sends only what is new or changed. `rag search` finds the chunks that "
        "answer a question; `ask --rag QUERY` gives them to a turn.",
    )
    rag = p.add_subparsers(dest="rag_command", metavar="ACTION", required=True)
    q = rag.add_parser(
        "add",
        help="store files, folders, URLs or arxiv:ID",
        description="Store each TARGET: a file, a folder (its files named FOLDER/its/path, "
        "its .gitignore kept, binary files skipped, a PDF as its text), a glob pattern, an "
        "http(s) URL or arxiv:ID (fetched by the server). A file stored unchanged is "
        "skipped without sending it, so an interrupted run resumes where it stopped. A "
        "progress bar on a terminal; a document that fails is one line on stderr and the "
        "rest go on. Files go to the server in batches; Ctrl-C stops after the batch being "
        "sent. Exit status: 0; 1 when nothing at all was added or found unchanged; 130 on "
        "Ctrl-C.",
    )
    _client_flags(q)
    _paths(q.add_argument("targets", nargs="+", metavar="PATH|URL|arxiv:ID"))
    q.add_argument(
        "--batch",
        type=_positive,
        default=None,
        metavar="N",
        help="files sent to the server at once (default 64; about 1 MB of text at most)",
    )
    q = rag.add_parser("list", help="list your documents")
    _client_flags(q)
    q = rag.add_parser("show", help="a document's record and its chunks' headings")
    _client_flags(q)
    q.add_argument("name")
    q = rag.add_parser("drop", help="delete a document with its chunks")
    _client_flags(q)
    q.add_argument("name")
    q = rag.add_parser(
        "search",
        help="search your documents",
        description="Print the chunks that best answer QUERY, numbered: document — "
        "heading, score, the searches that ranked it, its first lines.",
    )
    _client_flags(q)
    q.add_argument("query", nargs="+", metavar="QUERY")
    q.add_argument("--limit", type=int, default=10, metavar="K", help="hits wanted (10)")
    q.add_argument(
        "--mode",
        choices=("hybrid", "bm25", "vector"),
        default="hybrid",
        help="words and meaning fused (hybrid, the default), or one alone",
    )
    q.add_argument(
        "--rag-provider",
        metavar="NAME",
        help="provider NAME's model rescores the hits and keeps those that fit",
    )
    q.add_argument(
        "--to-ws",
        action="store_true",
        help="add each hit to the workspace as rag-DOCUMENT-N",
    )


def _prompts_parser(sub: Any) -> None:
    p = sub.add_parser(
        "prompts",
        help="personalities as files: export them as NAME.md, import them back",
        description="`prompts export [DIR]` writes every personality you can use as "
        "DIR/NAME.md (replacing files of those names; --mine: only your own); `prompts "
        "import FILE|DIR…` makes each file (a folder's *.md files) one of your "
        "personalities, named after the file (NAME.md is NAME), replacing yours of that name.",
    )
    actions = p.add_subparsers(dest="prompts_command", metavar="ACTION", required=True)
    q = actions.add_parser("export", help="write each personality as DIR/NAME.md")
    _client_flags(q)
    _paths(q.add_argument("folder", nargs="?", type=Path, default=Path("."), metavar="DIR"))
    q.add_argument("--mine", action="store_true", help="only yours, not the server's")
    q = actions.add_parser("import", help="read personalities from NAME.md files or folders")
    _client_flags(q)
    _paths(q.add_argument("paths", nargs="+", type=Path, metavar="FILE|DIR"))


def _ws_source_parsers(ws: Any) -> None:
    """``ws url|youtube|arxiv|wikipedia|news WORDS…``, ``ws fetch SOURCE WORDS…`` and
    ``ws sources``: sources the server fetches."""
    from chatthy.client.sources import SOURCE_COMMANDS

    _client_flags(ws.add_parser("sources", help="list the sources the server can fetch"))
    for action, command in SOURCE_COMMANDS.items():
        q = ws.add_parser(action, help=command.help)
        _client_flags(q)
        if command.by_name:
            q.add_argument("source", help="the source's name, as `ws sources` lists it")
        q.add_argument("words", nargs="+", metavar=command.metavar)
        q.add_argument("--name", help="store it under this name instead")
        if command.counted:
            q.add_argument("--count", type=int, help="how many results to keep (default 5)")


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    from chatthy.errors import ChatthyError

    try:
        return asyncio.run(coro)
    except ChatthyError as exc:
        print(f"chatthy: {exc.message}", file=sys.stderr)
        raise SystemExit(1) from None
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise SystemExit(130) from None
    except BrokenPipeError:
        raise  # the reader went away: main() ends quietly
    except OSError as exc:
        print(f"chatthy: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def _settings(args: argparse.Namespace) -> Any:
    from chatthy.client.settings import derive_soon, resolve
    from chatthy.errors import ChatthyError

    _write_default("client.toml", quiet=True)
    try:
        settings = resolve(args.server, args.profile)
    except ChatthyError as exc:
        print(f"chatthy: {exc.message}", file=sys.stderr)
        raise SystemExit(1) from None
    for notice in settings.notices:  # a server's key learned, a passphrase open to others
        print(f"chatthy: {notice}", file=sys.stderr)
    derive_soon(settings)  # the key's scrypt runs while the command imports and connects
    return settings


def _write_default(name: str, *, quiet: bool = False) -> None:
    """Write the commented default config file ``name`` where there is none (the first
    run); a config folder that cannot be written is a one-line warning, not a failure."""
    from chatthy.config import write_default
    from chatthy.errors import ChatthyError

    try:
        written = write_default(name)
    except ChatthyError as exc:
        print(f"chatthy: warning: no default {name} written: {exc.message}", file=sys.stderr)
        return
    if written is not None and not quiet:
        print(f"chatthy: wrote the commented default {written}", file=sys.stderr)


def _server_config(args: argparse.Namespace, secrets: str) -> ServerConfig | None:
    """server.toml (its commented default written first when none is named and there is
    none), with a warning when others can read the ``secrets`` it holds; None (said on
    stderr) when it cannot be used."""
    from chatthy.config import load_server_config, secret_warning
    from chatthy.errors import ChatthyError

    if args.config is None:
        _write_default("server.toml")
    try:
        config = load_server_config(args.config)
    except ChatthyError as exc:
        print(f"chatthy: {exc.message}", file=sys.stderr)
        return None
    toml = args.config or Path(config.config_dir) / "server.toml"
    if warning := secret_warning(toml, secrets):
        print(f"chatthy: {warning}", file=sys.stderr)
    return config


def _cmd_serve(args: argparse.Namespace) -> int:
    from chatthy.server.main import run_server

    config = _server_config(args, "provider API keys")
    if config is None:
        return 1
    _run(run_server(config, args.listen))
    return 0


def _cmd_router(args: argparse.Namespace) -> int:
    from chatthy.agent.router import run_router

    config = _server_config(args, "provider and router API keys")
    if config is None:
        return 1
    _run(run_router(config, args.listen))
    return 0


def _cmd_mcp(args: argparse.Namespace) -> int:
    if args.mcp_command == "import":
        from chatthy.agent.mcp.importer import import_command

        return import_command(args.file, args.config, replace=args.replace)
    if args.mcp_command == "serve":
        from chatthy.agent.mcp.serve import serve_command

        return serve_command(args)
    from chatthy.client.commands import rpc
    from chatthy.client.mcp import format_servers
    from chatthy.wire import api

    print(format_servers(_run(rpc(_settings(args), api.McpServers()))))
    return 0


def _read_text(words: list[str]) -> str:
    """The message: TEXT, with each word ``-`` replaced by stdin's content; stdin alone
    when there is no TEXT (and it is not a terminal). stdin is never read otherwise, so
    that an open pipe with nothing coming (ssh, cron, a parent process) cannot block."""
    if not words:
        return "" if sys.stdin.isatty() else sys.stdin.read()
    if "-" not in words:
        return " ".join(words)
    piped = sys.stdin.read().strip()
    return " ".join(piped if word == "-" else word for word in words)


def _cmd_ask(args: argparse.Namespace) -> int:
    text = _read_text(args.text)
    if not text.strip():
        print("chatthy: nothing to ask (give TEXT or pipe it on stdin)", file=sys.stderr)
        return 2
    images = _run(_read_images(args.image)) if args.image else []  # a bad one: nothing sent
    settings = _settings(args)  # first: its key is derived while the client imports
    from chatthy.client.commands import ask

    return int(
        _run(
            ask(
                settings,
                text,
                chat=args.chat,
                provider=args.provider,
                prompt=args.prompt,
                model=args.model,
                attach=args.attach,
                params=dict(args.options),
                approve=args.yes,
                rag=args.rag,
                rag_provider=args.rag_provider,
                images=images,
            )
        )
    )


async def _read_images(paths: list[Path]) -> list[ImagePartIn]:
    """The images of ``ask --image``, read and fitted; a downscale said on stderr."""
    from chatthy.client.attachments import read_image

    images = [await read_image(path) for path in paths]
    for image in images:
        if image["notice"]:
            print(f"chatthy: {image['notice']}", file=sys.stderr)
    return images


def _cmd_template(args: argparse.Namespace) -> int:
    from chatthy.client.commands import run_template

    return int(
        _run(
            run_template(
                _settings(args),
                [args.name, *args.words],
                chat=args.chat,
                provider=args.provider,
                prompt=args.prompt,
                model=args.model,
                params=dict(args.options),
            )
        )
    )


def _cmd_templates(args: argparse.Namespace) -> int:
    from chatthy.client.commands import list_templates
    from chatthy.client.templates import format_templates

    print(format_templates(_run(list_templates(_settings(args)))))
    return 0


def _cmd_chain(args: argparse.Namespace) -> int:
    from chatthy.client.commands import rpc
    from chatthy.wire import api

    settings = _settings(args)
    if not args.name:
        chains = _run(rpc(settings, api.Chains()))
        for c in chains:
            print(f"{c.name:<20} {' → '.join(c.steps)}  {c.description}")
        if not chains:
            print("no tool chains: put chains/NAME.toml files in the server's config dir")
        return 0
    if args.file and args.file != "-":
        try:
            text = Path(args.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"chatthy: cannot read {args.file}: {exc}", file=sys.stderr)
            return 1
    else:
        text = "" if sys.stdin.isatty() else sys.stdin.read()
    ran = _run(rpc(settings, api.ChainRun(name=args.name, input=text)))
    print(ran.output)
    return 0


def _cmd_tools(args: argparse.Namespace) -> int:
    from chatthy.client.commands import rpc
    from chatthy.wire import api

    for t in _run(rpc(_settings(args), api.Tools())):
        marks = ("⚠" if t.changes else " ") + (" " if t.enabled else "✗")
        said = t.description.splitlines()[0] if t.description else ""
        where = "" if t.origin == "built-in" else f"  [{t.origin}]"
        print(f"{marks} {t.name:<22} {said}{where}")
    return 0


def _cmd_completion(args: argparse.Namespace) -> int:
    import shtab

    parser = _parser()
    for action in _actions(parser):
        if getattr(action, "complete", None) == _PATHS:
            action.complete = shtab.FILE  # type: ignore[attr-defined]
    print(shtab.complete(parser, args.shell))
    return 0


def _actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Every argument of ``parser`` and of its subcommands, and theirs."""
    found = []
    for action in parser._actions:
        found.append(action)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _actions(sub)
    return found


def _cmd_chats(args: argparse.Namespace) -> int:
    from chatthy.client.commands import format_chats, list_chats

    print(format_chats(_run(list_chats(_settings(args), args.personality))))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from chatthy.client.commands import export

    _run(export(_settings(args), args.chat, args.format, args.output))
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from chatthy.client.commands import import_file

    result = _run(import_file(_settings(args), args.file, args.chat))
    for made in result.chats or [result]:
        print(f"imported {made.messages} message(s) into chat '{made.chat}'")
    if len(result.chats) > 1:
        print(f"{len(result.chats)} chats made")
    return 0


def _cmd_ws(args: argparse.Namespace) -> int:
    from chatthy.client import workspace as ws
    from chatthy.client.sources import SOURCE_COMMANDS
    from chatthy.wire import api

    settings = _settings(args)
    action = args.ws_command
    if action == "add":
        return _ws_add(args.paths, settings)
    if action in SOURCE_COMMANDS:
        count = getattr(args, "count", None)
        words = [args.source, *args.words] if SOURCE_COMMANDS[action].by_name else args.words
        info = _run(ws.add_source(settings, action, words, args.name, count))
        print(ws.fetched_line(info))
        return 0
    if action == "mcp":
        asked = api.WsMcp(server=args.mcp_server, uri=args.uri, name=args.name)
        print(ws.fetched_line(_run(ws.ws_call(settings, asked))))
        return 0
    if action == "sources":
        print(ws.format_sources(_run(ws.ws_call(settings, api.WsSources()))))
    elif action == "list":
        print(ws.format_workspace(_run(ws.ws_call(settings, api.WsList()))))
    elif action == "show":
        sys.stdout.write(_run(ws.ws_call(settings, api.WsShow(name=args.name))).text or "")
    elif action == "rename":
        info = _run(ws.ws_call(settings, api.WsRename(name=args.name, new=args.new)))
        print(f"renamed {args.name} to {info.name}")
    elif action == "drop":
        _run(ws.ws_call(settings, api.WsDrop(name=args.name)))
        print(f"dropped {args.name}")
    else:
        call = api.WsBench(name=args.name) if action == "bench" else api.WsRestore(name=args.name)
        info = _run(ws.ws_call(settings, call))
        print(f"{info.name} is {'benched' if info.benched else 'active'}")
    return 0


def _cmd_rag(args: argparse.Namespace) -> int:
    from chatthy.client import rag
    from chatthy.client.commands import rpc
    from chatthy.wire import api

    settings = _settings(args)
    action = args.rag_command
    if action == "add":
        return int(
            _run(rag.add_command(settings, args.targets, sys.stdout, sys.stderr, batch=args.batch))
        )
    if action == "list":
        print(rag.format_documents(_run(rpc(settings, api.RagList()))))
    elif action == "show":
        print(rag.format_document(_run(rpc(settings, api.RagShow(name=args.name)))))
    elif action == "drop":
        print(f"dropped {_run(rpc(settings, api.RagDrop(name=args.name))).name}")
    else:
        search = rag.search_command(
            settings,
            " ".join(args.query),
            sys.stdout,
            sys.stderr,
            limit=args.limit,
            mode=args.mode,
            provider=args.rag_provider,
            to_ws=args.to_ws,
        )
        return int(_run(search))
    return 0


def _cmd_prompts(args: argparse.Namespace) -> int:
    from chatthy.client.prompt_files import export_prompts, import_prompts

    settings = _settings(args)
    if args.prompts_command == "export":
        done = export_prompts(settings, args.folder, sys.stdout, sys.stderr, mine=args.mine)
    else:
        done = import_prompts(settings, args.paths, sys.stdout, sys.stderr)
    return int(_run(done))


def _ws_add(paths: list[str], settings: Any) -> int:
    """Files, folders and glob patterns; or, for one NAME that is neither a path nor a
    pattern, the text piped on stdin (none piped: refused, as a missing path)."""
    import glob

    from chatthy.client import workspace as ws

    one = paths[0]
    if len(paths) == 1 and not Path(one).exists() and not glob.has_magic(one):
        if sys.stdin.isatty():
            print(f"chatthy: no such file or folder: {one}", file=sys.stderr)
            return 1
        text = sys.stdin.read()
        if not text.strip():
            print(
                f"chatthy: no such file or folder: {one} (and no text piped on stdin to "
                "add under that name)",
                file=sys.stderr,
            )
            return 1
        print(ws.added_line(_run(ws.add_text(settings, one, text))))
        return 0
    for info in _run(ws.add_paths(settings, [Path(p) for p in paths], sys.stderr)):
        print(ws.added_line(info))
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from chatthy.config import config_dir, write_defaults

    if args.action == "path":
        print(config_dir())
        return 0
    if args.action == "key":
        from chatthy.config import data_dir
        from chatthy.wire.curve import fingerprint, server_key_pair

        public, _ = _run_sync_config(lambda: server_key_pair(data_dir()))
        print(public.decode())
        print(f"fingerprint {fingerprint(public)}", file=sys.stderr)  # as clients show it
        return 0
    if args.action == "profile-key":
        from chatthy.client.commands import format_key
        from chatthy.client.settings import signing_key

        settings = _settings(argparse.Namespace(server=None, profile=args.profile))
        key = signing_key(settings)
        print(format_key(settings.profile, key.public_key))
        return 0
    written = _run_sync_config(write_defaults)
    for path in written:
        print(f"wrote {path}")
    if not written:
        print(f"config already present in {config_dir()}")
    return 0


def _run_sync_config(fn: Callable[[], T]) -> T:
    from chatthy.errors import ChatthyError

    try:
        return fn()
    except ChatthyError as exc:
        print(f"chatthy: {exc.message}", file=sys.stderr)
        raise SystemExit(1) from None


def _cmd_passphrase(args: argparse.Namespace) -> int:
    """Ask the new passphrase twice on the terminal, then have the server take its key
    (the request signed with the current one)."""
    import getpass

    from chatthy.client.commands import change_passphrase
    from chatthy.wire.signing import derive_key

    if not sys.stdin.isatty():
        print("chatthy: a new passphrase is typed on a terminal", file=sys.stderr)
        return 1
    settings = _settings(args)
    new = getpass.getpass(f"new passphrase for profile '{settings.profile}': ")
    if not new or new != getpass.getpass("the new passphrase again: "):
        print("chatthy: the new passphrases are empty or differ: nothing changed", file=sys.stderr)
        return 1
    done = _run(change_passphrase(settings, derive_key(new, settings.profile)))
    print(f"profile '{done.profile}' now has key {done.fingerprint}")
    if not settings.prompted:
        print(
            "update CHATTHY_PASSPHRASE or passphrase in client.toml: they hold the old one",
            file=sys.stderr,
        )
    return 0


def _cmd_repl(args: argparse.Namespace) -> int:
    from chatthy.client.repl import repl

    chat = args.chat or "default"
    return int(_run(repl(_settings(args), chat, provider=args.provider, prompt=args.prompt)))


def _cmd_do(args: argparse.Namespace) -> int:
    from chatthy.client.repl import run_once

    if not args.words:
        print("chatthy: which command? chatthy do /help lists them", file=sys.stderr)
        return 2
    return int(_run(run_once(_settings(args), args.chat or "default", args.words)))


def _cmd_tui(args: argparse.Namespace) -> int:
    """The full-screen client on a terminal; the line client when stdin or stdout is not
    one (a pipe, a script)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return _cmd_repl(args)
    from chatthy.client.commands import confirm_new_profile
    from chatthy.client.tui import run_tui

    settings = _run(confirm_new_profile(_settings(args)))
    return run_tui(settings, args.chat or "default", provider=args.provider, prompt=args.prompt)


def _cmd_tk(args: argparse.Namespace) -> int:
    from chatthy.client.tk.app import run_tk

    return run_tk(
        args.server,
        args.profile,
        args.chat or "default",
        provider=args.provider,
        prompt=args.prompt,
        theme=args.theme,
    )


def _cmd_run(args: argparse.Namespace) -> int:
    from chatthy.client.embedded import run_embedded

    return run_embedded(args.chat or "default", provider=args.provider, prompt=args.prompt)


_VALUED = frozenset({"--server", "--profile", "--chat"})
"""The options before a ``/NAME`` command that take a value."""

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": _cmd_serve,
    "router": _cmd_router,
    "ask": _cmd_ask,
    "template": _cmd_template,
    "templates": _cmd_templates,
    "chain": _cmd_chain,
    "tools": _cmd_tools,
    "mcp": _cmd_mcp,
    "chats": _cmd_chats,
    "export": _cmd_export,
    "import": _cmd_import,
    "ws": _cmd_ws,
    "rag": _cmd_rag,
    "prompts": _cmd_prompts,
    "config": _cmd_config,
    "passphrase": _cmd_passphrase,
    "repl": _cmd_repl,
    "do": _cmd_do,
    "tui": _cmd_tui,
    "tk": _cmd_tk,
    "run": _cmd_run,
    "completion": _cmd_completion,
}


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    slash = next((i for i, word in enumerate(argv) if word.startswith("/")), None)
    if slash is not None and all(
        w.startswith("-") or argv[i - 1] in _VALUED for i, w in enumerate(argv[:slash])
    ):
        argv.insert(0, "do")  # chatthy [--server S] [--profile P] [--chat C] /NAME …
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "tui")
    args = _parser().parse_args(argv)
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        # The reader went away (`| head`): nothing more to say, and nothing to flush at
        # exit either (that would raise again).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    raise SystemExit(code)
