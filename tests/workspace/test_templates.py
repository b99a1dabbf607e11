"""Instruction templates: parsing and rendering, the `templates`/`template` RPCs on a real
server with the fake OpenAI upstream, and `/summarise`, `/template` in the line client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chatthy.client.templates import format_templates, summarise_request, template_request
from chatthy.errors import ArgumentError, ConfigError, NotFoundError
from chatthy.server.app import Server
from chatthy.server.handlers.templates import CHAT_DOCUMENT
from chatthy.workspace.templates import Templates, parse_template
from helpers import ClientMaker, ServerFactory, collect, openai_provider, turn
from test_cli import chatthy
from upstream import Upstream

BUILTIN = ["critique", "explain", "extract", "summarise", "translate"]


def _asked(upstream: Upstream) -> str:
    """The last user message the provider was sent."""
    messages: list[dict[str, Any]] = upstream.requests[-1].body["messages"]
    return str([m for m in messages if m["role"] == "user"][-1]["content"])


# --- the templates themselves ------------------------------------------------------


def test_front_matter_gives_description_and_defaults() -> None:
    template = parse_template(
        "review",
        "---\ndescription: Review it\n# a comment\ntone: kind\n---\n"
        "Review {text} in a {tone} way for {reader}; keep {{braces}}.\n",
    )
    assert template.description == "Review it"
    assert template.placeholders == ("text", "tone", "reader")
    assert template.defaults == {"tone": "kind"}
    assert template.render({"reader": "Ann"}, "DOC") == (
        "Review DOC in a kind way for Ann; keep {braces}."
    )
    assert template.render({"reader": "Ann", "tone": "blunt"}, "DOC").startswith(
        "Review DOC in a blunt way"
    )


def test_without_front_matter_the_first_line_describes_it() -> None:
    template = parse_template("haiku", "\n# Write a haiku about {topic}\n\nPlease.")
    assert template.description == "Write a haiku about {topic}"
    assert template.placeholders == ("topic",)


def test_a_missing_placeholder_names_it_and_the_placeholders() -> None:
    template = parse_template("tr", "---\nstyle: plain\n---\nInto {language}, {style}: {text}")
    with pytest.raises(ArgumentError) as caught:
        template.render({}, "DOC")
    assert caught.value.message == (
        "template 'tr' needs 'language' (give language=…); its placeholders: language, "
        "style='plain'"
    )


def test_unknown_arguments_and_text_are_refused() -> None:
    template = parse_template("tr", "Into {language}: {text}")
    with pytest.raises(ArgumentError, match="has no placeholder 'lang'; its placeholders"):
        template.render({"lang": "French"}, "DOC")
    with pytest.raises(ArgumentError, match="'text' is the document"):
        template.render({"language": "French", "text": "other"}, "DOC")


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("Positional {} here", "not a plain name"),
        ("Index {0} here", "not a plain name"),
        ("Attribute {text.upper} here", "not a plain name"),
        ("Spec {text:>10} here", "not a plain name"),
        ("Unmatched { brace", "literal braces"),
        ("---\ndescription: x\nno colon here\n---\nbody", "is not 'name: value'"),
        ("---\ndescription: never closed\nbody", "never closed"),
        ("---\nstyle: x\n---\nno placeholders", "which the body does not use"),
        ("---\ntext: x\n---\nOn {text}", "cannot have a default"),
    ],
)
def test_malformed_templates_say_why(source: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_template("bad", source)


def test_every_builtin_renders_with_its_defaults_and_the_document() -> None:
    found = Templates.load(Path("/nonexistent"))
    assert found.names() == BUILTIN and found.problems == {}
    for name in BUILTIN:
        template = found.get(name)
        args = {"language": "French"} if name == "translate" else {}
        rendered = template.render(args, "THE DOCUMENT")
        assert "THE DOCUMENT" in rendered and template.description


def test_client_side_parsing_of_summarise_and_template() -> None:
    assert summarise_request([]) == {"name": "summarise", "file": None, "args": {}}
    assert summarise_request(["notes.md", "bullets"]) == {
        "name": "summarise",
        "file": "notes.md",
        "args": {"style": "bullets"},
    }
    assert summarise_request(["topics", "chat"])["file"] is None
    with pytest.raises(ArgumentError, match="usage: /summarise"):
        summarise_request(["a.md", "b.md"])
    assert template_request(["translate", "a.md", "language=Brazilian Portuguese"]) == {
        "name": "translate",
        "file": "a.md",
        "args": {"language": "Brazilian Portuguese"},
    }
    with pytest.raises(ArgumentError, match="usage: /template NAME"):
        template_request([])
    with pytest.raises(ArgumentError, match="one FILE at most"):
        template_request(["explain", "a.md", "b.md"])


# --- over the wire -----------------------------------------------------------------


@pytest.fixture
def user_templates(isolated_env: Path) -> Path:
    folder = isolated_env / "config" / "templates"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
async def live(servers: ServerFactory, upstream: Upstream) -> Server:
    return await servers.start({"up": openai_provider(upstream)})


async def test_templates_lists_builtins_with_their_placeholders(
    live: Server, connect: ClientMaker
) -> None:
    listed = await connect(live).call("templates")
    assert [t.name for t in listed] == BUILTIN
    translate = next(t for t in listed if t.name == "translate")
    assert translate.placeholders == ["language"] and translate.defaults == {}
    summarise = next(t for t in listed if t.name == "summarise")
    assert summarise.defaults == {"style": "paragraph"}
    shown = format_templates(listed)
    assert "translate  Translate the text into another language  [language]" in shown
    assert "summarise  Summarise the text as a paragraph, bullet points or topics  " in shown


async def test_a_user_template_overrides_the_builtin_and_adds_new_ones(
    live: Server, connect: ClientMaker, upstream: Upstream, user_templates: Path
) -> None:
    (user_templates / "summarise.md").write_text(
        "---\ndescription: My own summary\n---\nTL;DR of this, please:\n{text}\n"
    )
    (user_templates / "haiku.md").write_text("Write a haiku about {topic}.")
    client = connect(live)
    listed = {t.name: t for t in await client.call("templates")}
    assert listed["summarise"].description == "My own summary"
    assert listed["summarise"].origin == "templates/summarise.md"
    assert listed["haiku"].placeholders == ["topic"]
    await client.call("ws_add", name="a.md", text="Alpha.")
    await client.call("ws_bench", name="a.md")
    stream, _ = await client.start("template", "c", name="summarise", file="a.md")
    await collect(stream)
    assert _asked(upstream) == "TL;DR of this, please:\nAlpha."


async def test_a_broken_user_template_says_why_and_hides_the_builtin(
    live: Server, connect: ClientMaker, user_templates: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (user_templates / "explain.md").write_text("Explain {0}")
    (user_templates / "latin.md").write_bytes("caf\xe9".encode("latin-1"))
    client = connect(live)
    listed = {t.name: t for t in await client.call("templates")}
    assert "not a plain name" in listed["explain"].error
    assert "not UTF-8" in listed["latin"].error
    assert listed["latin"].error.startswith("templates/latin.md is not UTF-8")
    assert not any(str(user_templates) in str(t) for t in listed.values())
    shown = format_templates(list(listed.values())).splitlines()
    assert any(line.startswith("explain    cannot be used: ") for line in shown)
    await client.call("ws_add", name="a.md", text="Alpha.")
    with pytest.raises(ConfigError, match=r"template 'explain' cannot be used: .*explain\.md"):
        await client.start("template", "c", name="explain", file="a.md")
    await client.call("templates")
    logged = [r.getMessage() for r in caplog.records if "cannot be used" in r.getMessage()]
    assert sorted(m.split()[1] for m in logged) == ["explain", "latin"]  # once each


async def test_an_unknown_template_lists_the_names(live: Server, connect: ClientMaker) -> None:
    client = connect(live)
    await client.call("ws_add", name="a.md", text="Alpha.")
    with pytest.raises(NotFoundError) as caught:
        await client.start("template", "c", name="sumarise", file="a.md")
    assert caught.value.message == (
        "no template 'sumarise' (templates: critique, explain, extract, summarise, translate)"
    )
    assert [c.name for c in await client.call("chats")] == []


async def test_a_missing_placeholder_stores_nothing(
    live: Server, connect: ClientMaker, upstream: Upstream
) -> None:
    client = connect(live)
    await client.call("ws_add", name="a.md", text="Bonjour.")
    with pytest.raises(ArgumentError, match=r"template 'translate' needs 'language'"):
        await client.start("template", "c", name="translate", file="a.md")
    assert [c.name for c in await client.call("chats")] == []
    assert upstream.requests == []
    stream, _ = await client.start(
        "template", "c", name="translate", file="a.md", args={"language": "Welsh"}
    )
    assert (await collect(stream)).status == "complete"
    assert "Translate the text below into Welsh." in _asked(upstream)


async def test_summarise_a_workspace_file_streams_into_the_chat(
    live: Server, connect: ClientMaker, upstream: Upstream
) -> None:
    client = connect(live)
    await client.call("ws_add", name="report.md", text="Sales rose 12% in May.")
    await client.call("ws_bench", name="report.md")
    stream, started = await client.start(
        "template", "c", name="summarise", file="report.md", args={"style": "bullets"}
    )
    seen = await collect(stream)
    asked = _asked(upstream)
    assert asked.startswith("Summarise the text below. Form of the summary: bullets.")
    assert "<text>\nSales rose 12% in May.\n</text>" in asked
    assert seen.status == "complete" and seen.text.startswith("upstream: Summarise")
    stored = (await client.call("messages", chat="c")).messages
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[0].content == asked and stored[1].id == started.message_id


async def test_summarise_the_chat_refers_to_the_conversation(
    live: Server, connect: ClientMaker, upstream: Upstream
) -> None:
    client = connect(live)
    with pytest.raises(ArgumentError, match="chat 'c' has no messages to run template"):
        await client.start("template", "c", name="summarise")
    await turn(client, "c", "Tell me about otters.")
    stream, _ = await client.start("template", "c", name="summarise")
    await collect(stream)
    sent = upstream.requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "Tell me about otters."
    assert CHAT_DOCUMENT in sent[-1]["content"]


async def test_a_missing_workspace_file_is_not_found(live: Server, connect: ClientMaker) -> None:
    with pytest.raises(NotFoundError, match=r"no workspace file named 'nope\.md'"):
        await connect(live).start("template", "c", name="explain", file="nope.md")


async def test_a_template_runs_on_an_attached_file(
    live: Server, connect: ClientMaker, upstream: Upstream, tmp_path: Path
) -> None:
    local = tmp_path / "draft.md"
    local.write_text("A draft on disk.", encoding="utf-8")
    client = connect(live)
    client.transient.attach(local)
    stream, _ = await client.start("template", "c", name="critique", file="draft.md")
    await collect(stream)
    asked = _asked(upstream)
    assert "the attached workspace file 'draft.md'" in asked and "A draft on disk." not in asked
    sent = upstream.requests[-1].body["messages"]
    assert sum("A draft on disk." in str(m["content"]) for m in sent) == 1
    stored = (await client.call("messages", chat="c")).messages
    assert not any("A draft on disk." in str(m.content) for m in stored)


async def test_a_template_on_an_active_file_does_not_send_it_twice(
    live: Server, connect: ClientMaker, upstream: Upstream
) -> None:
    client = connect(live)
    await client.call("ws_add", name="report.md", text="Sales rose 12% in May.")
    stream, _ = await client.start("template", "c", name="summarise", file="report.md")
    await collect(stream)
    sent = upstream.requests[-1].body["messages"]
    assert sum("Sales rose 12% in May." in str(m["content"]) for m in sent) == 1
    assert "the workspace file 'report.md'" in _asked(upstream)


async def test_repl_summarise_template_and_templates(
    live: Server, connect: ClientMaker, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATTHY_SERVER", live.address)
    monkeypatch.setenv("CHATTHY_PROFILE", "cli")
    monkeypatch.setenv("CHATTHY_PASSPHRASE", "pw")
    owner = connect(live, "cli", "pw")
    await owner.call("ws_add", name="notes.md", text="Otters hold hands.")
    await owner.call("ws_bench", name="notes.md")
    lines = [
        "/templates",
        "/summarise notes.md topics",
        "/template translate notes.md language=German",
        "/template translate notes.md",
        "/summarise",
        "/quit",
    ]
    code, out, err = await chatthy("repl", "--chat", "r", stdin="\n".join(lines).encode())
    assert code == 0, err
    assert "translate  Translate the text into another language  [language]" in out
    assert "error: template 'translate' needs 'language'" in err
    first, second, third = (r.body["messages"][-1]["content"] for r in upstream.requests)
    assert "Form of the summary: topics." in first and "Otters hold hands." in first
    assert "into German." in second and "Otters hold hands." in second
    assert CHAT_DOCUMENT in third
    assert "upstream: Summarise the text below. Form of the summary: topics." in out


async def test_another_profiles_file_cannot_be_used(live: Server, connect: ClientMaker) -> None:
    await connect(live, "alice").call("ws_add", name="secret.md", text="alice only")
    with pytest.raises(NotFoundError, match=r"no workspace file named 'secret\.md'"):
        await connect(live, "bob", "other").start(
            "template", "c", name="summarise", file="secret.md"
        )
