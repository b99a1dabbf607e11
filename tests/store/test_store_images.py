"""Images kept once per profile by digest, with the messages that name them: written in
the same write, gone in the same write as the last message that named them."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from chatthy.errors import ArgumentError, NotFoundError
from chatthy.store.base import ImageIn, Store
from storekit import ALICE, BOB


def image(data: bytes) -> ImageIn:
    return ImageIn(hashlib.sha256(data).hexdigest(), "image/png", 4, 3, data)


def naming(*images: ImageIn, text: str = "look") -> list[dict[str, Any]]:
    return [
        {"type": "text", "text": text},
        *({"type": "image_url", "image_url": {"url": f"chatthy-image:{i.digest}"}} for i in images),
    ]


CAT, DOG = image(b"\x89PNG cat bytes"), image(b"\x89PNG dog bytes")


async def test_an_image_is_kept_once_and_goes_with_the_last_message_naming_it(
    store: Store,
) -> None:
    await store.create_chat(ALICE, "pets", "helper", "echo", "")
    before = await store.stored_bytes(ALICE)
    await store.add_messages(
        ALICE,
        "pets",
        [
            {"role": "user", "content": naming(CAT), "images": [CAT]},
            {"role": "assistant", "content": "a cat"},
        ],
    )
    second, _ = await store.add_messages(
        ALICE,
        "pets",
        [
            {"role": "user", "content": naming(CAT, DOG), "images": [CAT, DOG]},
            {"role": "assistant", "content": "both"},
        ],
    )
    kept = await store.image(ALICE, CAT.digest)
    assert (kept.data, kept.media_type, kept.width, kept.height) == (CAT.data, "image/png", 4, 3)
    grown = await store.stored_bytes(ALICE) - before
    assert len(CAT.data) + len(DOG.data) < grown  # each kept once, beside the messages' text
    with pytest.raises(NotFoundError):
        await store.image(BOB, CAT.digest)  # another profile's

    await store.delete_messages_from(ALICE, "pets", second.id)  # the dog's only message
    with pytest.raises(NotFoundError):
        await store.image(ALICE, DOG.digest)
    assert (await store.image(ALICE, CAT.digest)).data == CAT.data  # still named by first

    await store.fork_chat(ALICE, "pets", "pets copy")
    await store.delete_chat(ALICE, "pets")
    assert (await store.image(ALICE, CAT.digest)).data == CAT.data  # the fork names it
    await store.delete_chat(ALICE, "pets copy")
    with pytest.raises(NotFoundError):
        await store.image(ALICE, CAT.digest)
    assert await store.stored_bytes(ALICE) == before


async def test_an_edit_that_drops_an_image_frees_it_and_one_that_adds_keeps_it(
    store: Store,
) -> None:
    await store.create_chat(ALICE, "pets", "helper", "echo", "")
    (asked,) = await store.add_messages(
        ALICE, "pets", [{"role": "user", "content": naming(CAT), "images": [CAT]}]
    )
    await store.update_message(ALICE, asked.id, content=naming(DOG), images=[DOG])
    with pytest.raises(NotFoundError):
        await store.image(ALICE, CAT.digest)
    assert (await store.image(ALICE, DOG.digest)).data == DOG.data
    # a reply's checkpoints (text) leave images alone
    (reply,) = await store.add_messages(ALICE, "pets", [{"role": "assistant", "content": ""}])
    await store.update_message(ALICE, reply.id, content="a dog, I think")
    assert (await store.image(ALICE, DOG.digest)).data == DOG.data
    await store.update_message(ALICE, asked.id, content="no picture after all")
    with pytest.raises(NotFoundError):
        await store.image(ALICE, DOG.digest)


async def test_a_failed_write_keeps_no_image(store: Store) -> None:
    with pytest.raises(NotFoundError):  # no such chat: nothing written
        await store.add_messages(
            ALICE, "missing", [{"role": "user", "content": naming(CAT), "images": [CAT]}]
        )
    with pytest.raises(NotFoundError):
        await store.image(ALICE, CAT.digest)


async def test_a_message_naming_an_image_no_longer_kept_is_refused_whole(store: Store) -> None:
    await store.create_chat(ALICE, "pets", "helper", "echo", "")
    with pytest.raises(ArgumentError, match="no longer kept"):
        await store.add_messages(
            ALICE,
            "pets",
            [{"role": "user", "content": naming(CAT)}, {"role": "assistant", "content": ""}],
        )
    assert await store.messages(ALICE, "pets") == []
    (kept,) = await store.add_messages(
        ALICE, "pets", [{"role": "user", "content": naming(CAT), "images": [CAT]}]
    )
    # naming one kept already, without its bytes, is fine (a re-sent digest)
    await store.add_messages(ALICE, "pets", [{"role": "user", "content": naming(CAT)}])
    with pytest.raises(ArgumentError, match="no longer kept"):
        await store.update_message(ALICE, kept.id, content=naming(DOG))
    (first, _) = await store.messages(ALICE, "pets")
    assert first.content == naming(CAT)
