"""Where a service task's bytes may come from: the operator's choice, never a stranger's.

A manifest uploaded to the service names URLs (index lines, find-links, URL requirements,
Pipfile sources, npm dependency URLs, lock ``resolved`` URLs). Each is used only when its
origin (scheme, host, port) is one the operator configured (the indexes and registries in
force, their proxies and mirrors) or matches the ``allowed_hosts`` setting. And since a
host name is only a name, the address actually connected to is checked too: an allowed
name that resolves to a loopback, link-local, private or otherwise non-public address
(DNS rebinding, or a stranger's own DNS) is refused unless the address is in
``allowed_networks``. The operator's own configured origins are exempt from that second
check: an internal index on 10.0.0.5 is the operator's decision.

``EgressPolicy`` is pure: the parsers ask it about each URL they read, the fetch engine
about each URL and each address it connects to, the sandbox's proxy about each CONNECT.
The CLI on a user's own machine has none (``None``): the user's own files, the user's
own network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ferry.errors import ExitCode, FetchError, Hint

_DEFAULT_PORTS = {"http": 80, "https": 443}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class EgressRefused(FetchError):
    """A URL or address the operator has not allowed. Never retried."""

    code = "egress-refused"
    exit_code = ExitCode.NETWORK
    http_status = 403


@dataclass(frozen=True)
class HostPattern:
    """``host``, ``host:port`` or ``*.domain[:port]``; without a port, 80 and 443 only."""

    host: str
    port: int | None
    wildcard: bool

    @classmethod
    def parse(cls, text: str) -> HostPattern:
        text = text.strip().lower()
        if "://" in text:
            parts = urlsplit(text)
            text = parts.netloc
        if not text or any(c in text for c in "/@ \t"):
            raise ValueError(f"not a host name or host:port: {text!r}")
        host, port = _split_host_port(text)
        if not host:
            raise ValueError(f"not a host name or host:port: {text!r}")
        wildcard = host.startswith("*.")
        return cls(host[2:] if wildcard else host, port, wildcard)

    def matches(self, host: str, port: int) -> bool:
        if self.port is None and port not in (80, 443):
            return False
        if self.port is not None and port != self.port:
            return False
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == self.host


def _split_host_port(netloc: str) -> tuple[str, int | None]:
    netloc = netloc.rsplit("@", 1)[-1]
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif netloc.count(":") == 1:
        host, port = netloc.split(":")
    else:
        host, port = netloc, ""
    if port and not port.isdigit():
        raise ValueError(f"bad port in {netloc!r}")
    return host.lower(), int(port) if port else None


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL; None for anything else or garbage."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            return None
        return scheme, parts.hostname.lower(), parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        return None


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class EgressPolicy:
    # (host, port) the operator configured: allowed, wherever they resolve
    trusted: frozenset[tuple[str, int]] = frozenset()
    # file:// prefixes the operator configured (local indexes and find-links)
    trusted_files: tuple[str, ...] = ()
    allowed: tuple[HostPattern, ...] = ()
    networks: tuple[IPNetwork, ...] = ()
    # what the operator's proxy hosts are: connecting to them is the operator's choice
    proxies: frozenset[tuple[str, int]] = field(default_factory=frozenset)

    @classmethod
    def build(
        cls,
        *,
        trusted_urls: Iterable[str],
        allowed_hosts: Iterable[str] = (),
        allowed_networks: Iterable[str] = (),
        proxies: Iterable[str] = (),
    ) -> EgressPolicy:
        trusted: set[tuple[str, int]] = set()
        files: list[str] = []
        for url in trusted_urls:
            found = origin_of(url)
            if found is not None:
                trusted.add(found[1:])
            elif url.lower().startswith("file:"):
                files.append(url.rstrip("/") + "/")
        proxy_origins = {o[1:] for p in proxies if (o := origin_of(p)) is not None}
        return cls(
            trusted=frozenset(trusted | proxy_origins),
            trusted_files=tuple(files),
            allowed=tuple(HostPattern.parse(h) for h in allowed_hosts),
            networks=tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks),
            proxies=frozenset(proxy_origins),
        )

    def refusal(self, url: str) -> str | None:
        """Why ``url`` may not be fetched, or None when it may (its host, at least: the
        address is checked when connecting, :meth:`address_refusal`)."""
        if url.lower().startswith("file:"):
            if any(url.startswith(prefix) for prefix in self.trusted_files):
                return None
            return "a local path on the server is not a place to fetch from"
        found = origin_of(url)
        if found is None:
            scheme = urlsplit(url).scheme or "no scheme"
            return f"only http and https URLs are fetched, not {scheme}"
        _, host, port = found
        if (host, port) in self.trusted or any(p.matches(host, port) for p in self.allowed):
            return None
        where = host if port in (80, 443) else f"{host}:{port}"
        return f"{where} is neither a configured index or registry nor on the allowed_hosts list"

    def check(self, url: str, what: str) -> None:
        reason = self.refusal(url)
        if reason is not None:
            raise EgressRefused(
                f"{what}: {reason}",
                hint=Hint("egress"),
            )

    def is_trusted(self, host: str, port: int) -> bool:
        return (host.lower(), port) in self.trusted

    def address_refusal(self, host: str, port: int, address: str) -> str | None:
        """Why connecting to ``address`` (what ``host`` resolved to) is refused, or None."""
        if self.is_trusted(host, port):
            return None
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return f"{host} resolved to {address!r}, which is not an address"
        if is_public(ip) or any(ip in network for network in self.networks):
            return None
        return (
            f"{host} resolves to a non-public address; such addresses are refused unless "
            "they are in the allowed_networks setting"
        )
