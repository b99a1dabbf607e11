"""Schemes → provider factories, and :func:`build_provider` for one config table.

The built-in schemes register through :func:`register_scheme` exactly as a plugin
would. Their factories import the provider module only when called, so importing the
registry (or the client side of chatthy) never imports an SDK.

A third-party scheme is an entry point of the group ``chatthy.providers``, named by the
scheme, that loads a :data:`ProviderFactory`: a callable ``(name, cfg) -> Provider``,
which a :class:`~chatthy.providers.base.Provider` subclass whose ``__init__`` takes
``(name: str, cfg: ProviderConfig)`` is. In the plugin's ``pyproject.toml``::

    [project.entry-points."chatthy.providers"]
    myscheme = "my_plugin:MyProvider"

Entry points are read on the first :func:`build_provider` or :func:`schemes` call (see
:mod:`chatthy.plugins`); one that cannot be loaded is logged then, and only a provider
configured with its scheme fails, with a ConfigError naming the plugin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from chatthy.config import ProviderConfig
from chatthy.errors import ConfigError
from chatthy.plugins import Registry
from chatthy.providers.base import Provider

__all__ = ["GROUP", "ProviderFactory", "build_provider", "register_scheme", "schemes"]

ProviderFactory = Callable[[str, ProviderConfig], Provider]
"""Makes a provider from its name and its ``[providers.NAME]`` table."""

GROUP = "chatthy.providers"
"""The entry-point group of provider plugins."""


def _as_factory(scheme: str, loaded: object) -> ProviderFactory:
    """What a ``chatthy.providers`` entry point loads, checked to be a factory."""
    if not callable(loaded):
        raise TypeError(f"{loaded!r} is not a provider factory (name, cfg) -> Provider")
    return cast(ProviderFactory, loaded)


_factories: Registry[ProviderFactory] = Registry("provider scheme", GROUP, _as_factory)


def register_scheme(scheme: str, factory: ProviderFactory) -> None:
    """Make ``scheme = "<scheme>"`` in server.toml build providers with ``factory``.

    A later registration of the same scheme replaces the earlier one, so a plugin can
    override a built-in.
    """
    _factories.register(scheme, factory)


def schemes() -> list[str]:
    """The schemes that can be built, sorted (built-ins and loadable plugins)."""
    return _factories.names()


def build_provider(name: str, cfg: ProviderConfig) -> Provider:
    """The provider for ``[providers.<name>]``; its SDK client is made here, once.

    Raises:
        ConfigError: no factory for the scheme, the scheme's plugin cannot be loaded, or
            the factory rejected the config.
    """
    try:
        factory = _factories.get(cfg.scheme)
    except ConfigError as exc:
        raise ConfigError(f"provider '{name}': {exc.message}") from exc
    if factory is None:
        known = ", ".join(schemes())
        raise ConfigError(f"provider '{name}': unknown scheme '{cfg.scheme}' (known: {known})")
    try:
        provider = factory(name, cfg)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"provider '{name}': bad configuration: {exc}") from exc
    if not isinstance(provider, Provider):
        raise ConfigError(
            f"provider '{name}': scheme '{cfg.scheme}' made a {type(provider).__name__}, "
            "not a Provider"
        )
    return provider


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
