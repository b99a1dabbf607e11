"""``/profile NAME``: the signing key for another profile, checked on the server before
the app lets go of the connection it has.

The passphrase comes from where the client got its first one (``CHATTHY_PASSPHRASE``,
then client.toml); where that was a prompt on the terminal, a modal input asks for it,
since Textual owns the terminal now.
"""

from __future__ import annotations

import asyncio
import functools
import os
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from chatthy.client.core import Client
from chatthy.config import load_client_config
from chatthy.errors import AuthError, ChatthyError
from chatthy.wire.signing import derive_key

if TYPE_CHECKING:
    from chatthy.client.tui.app import ChatthyApp

__all__ = ["PassphraseScreen", "configured_passphrase", "switch_profile"]


def configured_passphrase() -> str | None:
    """The passphrase from the environment or client.toml, as the client first read it.

    Raises:
        ConfigError: client.toml cannot be read.
    """
    return os.environ.get("CHATTHY_PASSPHRASE") or load_client_config().passphrase or None


class PassphraseScreen(ModalScreen[str | None]):
    """Asks for a profile's passphrase (hidden); Enter gives it, Esc gives up."""

    DEFAULT_CSS = """
    PassphraseScreen { align: center middle; }
    PassphraseScreen > Vertical {
        width: 60; height: auto; border: round $primary; background: $surface; padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Cancel")]

    def __init__(self, profile: str, *, again: bool = False) -> None:
        super().__init__()
        self.profile = profile
        self.again = again

    def compose(self) -> ComposeResult:
        with Vertical():
            if self.again:
                text = f"profile '{self.profile}' is new here: its passphrase again (Esc cancels)"
            else:
                text = f"passphrase for profile '{self.profile}' (Esc cancels)"
            yield Static(Content(text))
            yield Input(password=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value or None)


async def switch_profile(app: ChatthyApp, profile: str) -> None:
    """Connect as ``profile`` and, once the server accepted the key, use that connection.

    Raises:
        ChatthyError: no passphrase, or the server refused the key (the app keeps the
            connection it had).
    """
    passphrase = configured_passphrase()
    typed = passphrase is None
    if passphrase is None:
        passphrase = await app.push_screen_wait(PassphraseScreen(profile))
    if not passphrase:
        app.status(f"still profile '{app.client.profile}'")
        return
    key = await asyncio.to_thread(derive_key, passphrase, profile)
    old = app.client
    client = Client(
        old.address,
        profile,
        key,
        timeout=old.timeout,
        connect_timeout=old.connect_timeout,
        server_key=old.server_key,
        invite=old.invite,
        legacy_key=functools.partial(derive_key, passphrase, profile, legacy=True),
        addresses=old.addresses,
        key_of=old.key_of,
    )
    client.transient = old.transient
    if typed:

        async def confirm() -> None:
            again = await app.push_screen_wait(PassphraseScreen(profile, again=True))
            if again != passphrase:
                raise AuthError("the passphrases do not match: nothing was registered")

        client.on_new_profile = confirm
    client.connect()
    try:
        await client.call("status")
    except ChatthyError as exc:
        await client.aclose()
        raise ChatthyError(f"cannot switch to profile '{profile}': {exc.message}") from None
    await app.use_client(client)
    app.status(f"now profile '{profile}'")
