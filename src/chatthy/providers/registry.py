"""Schemes → provider factories, and :func:`build_provider` for one config table.

The built-in schemes register through :func:`register_scheme` exactly as a plugin
would. Their factories import the provider module only when called, so importing the
registry (or the client side of chatthy) never imports an SDK.
"""

from __future__ import annotations

from collections.abc import Callable

from chatthy.config import ProviderConfig
from chatthy.errors import ConfigError
from chatthy.providers.base import Provider

__all__ = ["ProviderFactory", "build_provider", "register_scheme", "schemes"]

ProviderFactory = Callable[[str, ProviderConfig], Provider]
"""Makes a provider from its name and its ``[providers.NAME]`` table."""

_factories: dict[str, ProviderFactory] = {}


def register_scheme(scheme: str, factory: ProviderFactory) -> None:
    """Make ``scheme = "<scheme>"`` in server.toml build providers with ``factory``.

    A later registration of the same scheme replaces the earlier one, so a plugin can
    override a built-in.
    """
    _factories[scheme] = factory


def schemes() -> list[str]:
    """The schemes that can be built, sorted."""
    return sorted(_factories)


def build_provider(name: str, cfg: ProviderConfig) -> Provider:
    """The provider for ``[providers.<name>]``; its SDK client is made here, once.

    Raises:
        ConfigError: no factory for the scheme, or the factory rejected the config.
    """
    factory = _factories.get(cfg.scheme)
    if factory is None:
        known = ", ".join(schemes())
        raise ConfigError(f"provider '{name}': unknown scheme '{cfg.scheme}' (known: {known})")
    try:
        return factory(name, cfg)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"provider '{name}': bad configuration: {exc}") from exc


def _openai(name: str, cfg: ProviderConfig) -> Provider:
    from chatthy.providers.openai import OpenAIProvider

    return OpenAIProvider(name, cfg)


def _anthropic(name: str, cfg: ProviderConfig) -> Provider:
    from chatthy.providers.anthropic import AnthropicProvider

    return AnthropicProvider(name, cfg)


def _tabby(name: str, cfg: ProviderConfig) -> Provider:
    from chatthy.providers.tabby import TabbyProvider

    return TabbyProvider(name, cfg)


def _echo(name: str, cfg: ProviderConfig) -> Provider:
    from chatthy.providers.echo import EchoProvider

    return EchoProvider(name, cfg)


register_scheme("openai", _openai)
register_scheme("anthropic", _anthropic)
register_scheme("tabby", _tabby)
register_scheme("echo", _echo)
