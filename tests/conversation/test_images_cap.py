"""A request carries the newest images only: the older ones are lines saying so, in
their message's place or under their tool result's text."""

from __future__ import annotations

from chatthy.conversation.images import newest_images
from chatthy.conversation.model import (
    ImagePart,
    Message,
    TextPart,
    ToolResultPart,
    images_of,
)


def image(n: int) -> ImagePart:
    return ImagePart("image/png", f"data:image/png;base64,{n}", f"shot{n}.png")


def test_only_the_newest_images_are_sent_the_others_are_lines() -> None:
    messages = [
        Message("user", (TextPart("look"), image(1), image(2))),
        Message("tool", (ToolResultPart("c1", "taken", images=(image(3), image(4))),)),
        Message("user", (image(5),)),
    ]
    kept = newest_images(messages, most=2)
    assert [i.name for m in kept for i in images_of(m.parts)] == ["shot4.png", "shot5.png"]
    assert kept[0].parts[1] == TextPart(
        "[shot1.png left out: a request carries the newest 2 images]"
    )
    result = kept[1].parts[0]
    assert isinstance(result, ToolResultPart)
    assert result.content.splitlines() == [
        "taken",
        "[shot3.png left out: a request carries the newest 2 images]",
    ]
    assert newest_images(messages, most=5) is messages  # under the cap: as they were
