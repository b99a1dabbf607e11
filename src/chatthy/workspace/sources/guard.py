"""Which addresses the server may fetch from, so that a shared server cannot be turned
against its own network (server-side request forgery).

Every host is resolved here, off the event loop, and every address it resolves to must be
public: loopback, private, shared (CGNAT), link-local, multicast, reserved and unspecified
addresses are refused, IPv4 and IPv6 alike, also when an IPv4 address hides inside an
IPv6 one (``::ffff:127.0.0.1``, 6to4 ``2002::/16``). ``allow_private`` under ``[sources]``
lifts this for all of them (``true``) or for listed networks only.

The fetcher then connects to the very address checked here (see ``fetch.py``), so a DNS
answer that changes between the check and the connection (rebinding) is no way round.
NAT64 addresses (``64:ff9b::/96``) fall in ``::/8`` and are refused as reserved, public
IPv4 inside them too (a NAT64-only server needs ``allow_private``). HTTP proxies are not
used: the fetcher ignores the proxy environment variables.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from chatthy.errors import SourceBlockedError, SourceConnectionError

__all__ = ["AddressPolicy", "IPAddress", "address_kind"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _embedded_v4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (mapped or 6to4), else the address."""
    if isinstance(address, ipaddress.IPv6Address):
        return address.ipv4_mapped or address.sixtofour or address
    return address


def address_kind(address: IPAddress) -> str:
    """Why ``address`` is not public ("loopback", "private" …), or "" when it is."""
    address = _embedded_v4(address)
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-public", not address.is_global),
    )
    return next((kind for kind, hit in checks if hit), "")


class AddressPolicy:
    """Resolves hosts and says which of their addresses may be fetched."""

    def __init__(self, allow_private: bool | list[str]) -> None:
        self.allow_all = allow_private is True
        listed = allow_private if isinstance(allow_private, list) else []
        self.allowed: list[IPNetwork] = [ipaddress.ip_network(n, strict=False) for n in listed]

    def refusal(self, address: IPAddress) -> str:
        """Why ``address`` may not be fetched ("a loopback address"), or "" if it may."""
        kind = address_kind(address)
        if not kind or self.allow_all:
            return ""
        candidates = {address, _embedded_v4(address)}
        if any(a in network for a in candidates for network in self.allowed):
            return ""
        return f"{address} is a {kind} address"

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``, in the resolver's order, each once:
        resolved off the event loop; every address it has must be permitted.

        Raises:
            SourceConnectionError: the host does not resolve.
            SourceBlockedError: the host has an address the policy refuses.
        """
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise SourceConnectionError(f"cannot resolve host '{host}'") from exc
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        if not addresses:
            raise SourceConnectionError(f"cannot resolve host '{host}'")
        for address in addresses:
            if why := self.refusal(address):
                raise SourceBlockedError(
                    f"refused to fetch from {host}: {why} (allow_private under [sources] "
                    "in server.toml permits it)"
                )
        return list(dict.fromkeys(str(address) for address in addresses))
