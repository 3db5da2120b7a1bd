"""An aiohttp connector that can only connect to addresses the network policy allows.

Checked where it cannot be got around:

- the resolver drops every address the policy refuses (a name resolving to
  127.0.0.1 or 169.254.169.254 has nothing left to connect to);
- the socket factory, which aiohttp calls with the very address the socket is
  about to connect to, refuses it again: a literal IP in the URL (aiohttp does
  not resolve those) and a name that rebinds between two lookups are caught
  here, on the connect itself;
- after connecting, ``delivery`` checks the peer address of the connection.
"""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from services.common.webhook_networks import NetworkPolicy


class DestinationRefused(OSError):
    """The destination's address is not one webhooks may reach."""


class PolicyResolver(AbstractResolver):
    def __init__(self, policy: NetworkPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if self._policy.refusal(r["host"]) is None]
        if not allowed:
            reasons = "; ".join(sorted({str(self._policy.refusal(r["host"])) for r in results}))
            raise DestinationRefused(f"{host} resolves to no allowed address: {reasons}")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def policy_socket_factory(policy: NetworkPolicy) -> Any:
    def factory(addr_info: Any) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        reason = policy.refusal(sockaddr[0])
        if reason is not None:
            raise DestinationRefused(f"refused to connect to {sockaddr[0]}: {reason}")
        return socket.socket(family=family, type=type_, proto=proto)

    return factory


def guarded_session(
    policy: NetworkPolicy, resolver: AbstractResolver | None = None
) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        resolver=PolicyResolver(policy, resolver),
        socket_factory=policy_socket_factory(policy),
        limit=256,
        ttl_dns_cache=10,
    )
    # trust_env off: no proxy from the environment may carry webhooks elsewhere.
    return aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=False)


def peer_refusal(response: aiohttp.ClientResponse, policy: NetworkPolicy) -> str | None:
    """Why the connection the response came over goes somewhere refused (None: fine)."""
    connection = response.connection
    transport = connection.transport if connection is not None else None
    peer = transport.get_extra_info("peername") if transport is not None else None
    if not peer:
        return None
    return policy.refusal(peer[0])
