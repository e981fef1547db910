"""The egress policy (``ferry.egress``) applied to the connections Ferry itself makes.

For aiohttp (the download engine): a client middleware checks every request's URL,
redirects included (aiohttp runs middlewares once per hop), and a resolver wrapper drops
every address the policy refuses, so the address checked is the address connected to
(a name that resolves to 127.0.0.1 a second time, DNS rebinding, is caught there).
aiohttp does not ask the resolver about IP literals, so the middleware checks those.

For httpx (index pages, registry documents, metadata ranges): a request hook checks every
URL, redirects included, and the client's resolving backend (``fetch/dns.py``) checks
every address before it connects.

Through a proxy the proxy resolves names: Ferry still checks every URL, and the proxy (the
operator's) answers for the addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from ferry.egress import EgressPolicy, EgressRefused, origin_of

__all__ = ["AddressRefused", "PolicyResolver", "policy_middleware", "request_hook"]


class AddressRefused(OSError):
    """Raised where a resolver may only raise OSError; carries the policy's reason."""


def _check_literal(policy: EgressPolicy, url: str) -> None:
    found = origin_of(url)
    if found is None:
        return
    _, host, port = found
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return  # a name: its addresses are checked by the resolver
    reason = policy.address_refusal(host, port, host.strip("[]"))
    if reason is not None:
        raise EgressRefused(f"{host}: {reason}")


def policy_middleware(policy: EgressPolicy) -> Any:
    async def middleware(request: aiohttp.ClientRequest, handler: Any) -> Any:
        url = str(request.url)
        reason = policy.refusal(url)
        if reason is not None:
            raise EgressRefused(reason)
        _check_literal(policy, url)
        return await handler(request)

    return middleware


class PolicyResolver(AbstractResolver):
    def __init__(self, policy: EgressPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self.inner = inner or aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        allowed = [r for r in found if self.policy.address_refusal(host, port, r["host"]) is None]
        if not allowed:
            reason = self.policy.address_refusal(host, port, found[0]["host"]) if found else None
            raise AddressRefused(reason or f"{host} did not resolve")
        return allowed

    async def close(self) -> None:
        await self.inner.close()


async def request_hook(policy: EgressPolicy, url: str) -> None:
    """For httpx's ``event_hooks["request"]``: every request, every redirect."""
    reason = policy.refusal(url)
    if reason is not None:
        raise EgressRefused(reason)
    _check_literal(policy, url)
