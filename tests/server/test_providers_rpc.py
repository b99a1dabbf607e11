"""What clients learn about providers, and switching models through the server."""

from __future__ import annotations

import msgspec
import pytest

from chatthy.config import ProviderConfig
from chatthy.errors import ArgumentError, AuthError, ProviderAuthError
from helpers import ClientMaker, RawPeer, ServerFactory, key_for, openai_provider, request, turn
from upstream import Reply, Upstream


async def test_providers_lists_models_from_upstream(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    with Upstream(models=["small", "large"]) as up:
        srv = await servers.start(
            {
                "local": openai_provider(up, model="small"),
                "gone": openai_provider(up, base_url="http://127.0.0.1:9/v1", connect_timeout=1),
            },
            default_provider="local",
        )
        listed = {p.name: p for p in await connect(srv).call("providers")}
        # The answer as it came off the wire: decoding drops fields the struct does not
        # declare, so a leaked key would not show in ``listed``.
        peer = RawPeer(srv.address)
        try:
            key = key_for("alice")
            body = request(key, method="providers")
            raw = await peer.send(body, key.sign(body))
        finally:
            peer.close()
    assert listed["local"].models == ["small", "large"]
    assert listed["local"].default is True
    assert listed["local"].context_length == 4096
    assert msgspec.structs.asdict(listed["local"].capabilities) == {
        "tools": True,
        "vision": True,
        "reasoning": True,
        "model_loading": False,
    }
    gone_error = listed["gone"].error
    assert gone_error is not None and gone_error.startswith("provider 'gone'")
    assert raw.ok
    for shown in (str(listed), str(raw.result)):
        assert "api_key" not in shown and "sk-test" not in shown


async def test_chat_model_is_sent_upstream(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await servers.start({"local": openai_provider(upstream)})
    client = connect(srv)
    await turn(client, "c", "hi", model="other-model")
    assert upstream.requests[-1].body["model"] == "other-model"
    await turn(client, "c", "again")
    assert upstream.requests[-1].body["model"] == "other-model"
    chats = await client.call("chats")
    assert chats[0].model == "other-model"


async def test_load_model_on_tabby(servers: ServerFactory, connect: ClientMaker) -> None:
    with Upstream(models=["a", "b"], admin_key="admin") as up:
        srv = await servers.start(
            {
                "tabby": openai_provider(up, scheme="tabby", admin_key="admin"),
                "plain": openai_provider(up),
                "wrong": openai_provider(up, scheme="tabby", admin_key="nope"),
            },
            admins=["alice"],
            profiles={"alice": key_for("alice").public_key.hex()},
        )
        with pytest.raises(AuthError, match="only the server's admins"):
            await connect(srv, "bob").call("load", provider="tabby", model="b")
        assert up.loaded_model is None
        client = connect(srv)
        listed = await client.call("providers", models=False)
        loading = {p.name: p.capabilities.model_loading for p in listed}
        assert loading == {"tabby": True, "plain": False, "wrong": True}
        result = await client.call("load", provider="tabby", model="b")
        assert result.loaded is True
        assert up.loaded_model == "b"
        with pytest.raises(ArgumentError, match="cannot load models"):
            await client.call("load", provider="plain", model="b")
        with pytest.raises(ProviderAuthError, match="provider 'wrong'"):
            await client.call("load", provider="wrong", model="a")


async def test_echo_offered_when_nothing_configured(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    srv = await servers.start(None)
    listed = await connect(srv).call("providers")
    assert [p.name for p in listed] == ["echo"]
    assert listed[0].capabilities.vision is True
    seen = await turn(connect(srv), "c", "offline works")
    assert seen.text == "echo: offline works"


async def test_env_key_offers_provider(
    servers: ServerFactory, connect: ClientMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    srv = await servers.start({"echo": ProviderConfig(scheme="echo")})
    names = [p.name for p in await connect(srv).call("providers", models=False)]
    assert names == ["echo", "openai"]


async def test_retry_after_429_then_reply(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await servers.start({"local": openai_provider(upstream, retries=2)})
    upstream.push(Reply(status=429), times=2)
    upstream.push(Reply(chunks=["made it"]))
    assert (await turn(connect(srv), "c", "hi")).text == "made it"
