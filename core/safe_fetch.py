"""The one guarded way the gateway fetches a URL a client gave it.

Some providers need an image inline although the client sent its URL, so the gateway must
fetch it. Done naively that is a server-side request forgery: the URL can name the cloud's
metadata service (169.254.169.254), a database on the private network, or a DNS name that
resolves to one. So every fetch goes through `SafeFetcher`:

- http and https only; no proxies from the environment;
- the address is checked when the connection is made, after DNS: a literal IP in the URL is
  checked before connecting, a name's resolved addresses are filtered by the resolver the
  connection uses, so there is no window between checking and connecting (DNS rebinding);
- only globally routable addresses are allowed: private, loopback, link-local (the metadata
  services), shared (CGNAT), multicast, reserved and unspecified ranges are refused, IPv4
  mapped into IPv6 included — unless the operator lists a network in `allow_networks`;
- redirects are followed by hand, each hop checked like the first, at most `max_redirects`;
- the body is capped at `max_bytes` and the whole fetch at `timeout` seconds.
Refusals are 400s naming the URL's host, never the data behind it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urljoin, urlsplit

import aiohttp
import attrs
from aiohttp.abc import AbstractResolver, ResolveResult

from .errors import GatewayError

__all__ = ["FetchPolicy", "Fetched", "SafeFetcher", "address_allowed"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@attrs.frozen
class FetchPolicy:
    #: Largest body fetched, in bytes.
    max_bytes: int = 20 * 1024 * 1024
    #: Seconds for the whole fetch, redirects included.
    timeout: float = 10.0
    #: Redirects followed (each checked like the first URL).
    max_redirects: int = 3
    #: Networks allowed although not globally routable (an internal image store), e.g.
    #: ``("10.20.0.0/16",)``. Empty by default: the public internet only.
    allow_networks: tuple[str, ...] = ()

    def networks(self) -> tuple[IPNetwork, ...]:
        return tuple(ipaddress.ip_network(n, strict=False) for n in self.allow_networks)


@attrs.frozen
class Fetched:
    url: str
    content_type: str
    data: bytes


def address_allowed(address: str, allowed: Sequence[IPNetwork] = ()) -> bool:
    """Whether the gateway may connect to `address` (an IP literal)."""
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in allowed):
        return True
    return ip.is_global and not ip.is_multicast


class _GuardedResolver(AbstractResolver):
    """Resolves with `base` and keeps only the addresses `address_allowed` accepts."""

    def __init__(self, base: AbstractResolver, allowed: Sequence[IPNetwork]) -> None:
        self.base = base
        self.allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self.base.resolve(host, port, family)
        kept = [entry for entry in found if address_allowed(entry["host"], self.allowed)]
        if not kept:
            raise _refused(host, "it resolves to a private, loopback or link-local address")
        return kept

    async def close(self) -> None:
        await self.base.close()


class SafeFetcher:
    """``await SafeFetcher().fetch(url)`` → `Fetched`, or a 400 `GatewayError`.

    `resolver` replaces the system DNS (tests map names to addresses with it).
    """

    def __init__(
        self, policy: FetchPolicy | None = None, resolver: AbstractResolver | None = None
    ) -> None:
        self.policy = policy or FetchPolicy()
        self._allowed = self.policy.networks()
        self._resolver = resolver

    async def fetch(self, url: str) -> Fetched:
        policy = self.policy
        connector = aiohttp.TCPConnector(
            resolver=_GuardedResolver(self._resolver or aiohttp.ThreadedResolver(), self._allowed),
            use_dns_cache=False,
            force_close=True,
        )
        try:
            async with (
                aiohttp.ClientSession(connector=connector, trust_env=False) as session,
                asyncio.timeout(policy.timeout),
            ):
                for _hop in range(policy.max_redirects + 1):
                    self._check_url(url)
                    async with session.get(url, allow_redirects=False) as response:
                        if response.status in (301, 302, 303, 307, 308):
                            location = response.headers.get("location")
                            if not location:
                                raise _refused(_host(url), "it redirects nowhere")
                            url = urljoin(url, location)
                            continue
                        if response.status != 200:
                            raise _refused(_host(url), f"it answered HTTP {response.status}")
                        data = await self._read(response, url)
                        kind = response.headers.get("content-type", "").split(";")[0].strip()
                        return Fetched(url, kind.lower(), data)
                raise _refused(_host(url), f"it redirects more than {policy.max_redirects} times")
        except TimeoutError:
            raise _refused(_host(url), f"it did not answer within {policy.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise _refused(_host(url), f"it could not be fetched ({type(exc).__name__})") from None
        finally:
            await connector.close()

    def _check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise _refused(parts.hostname or url[:40], "only http and https URLs are fetched")
        host = parts.hostname
        if not host:
            raise _refused(url[:40], "it has no host")
        if _is_ip(host) and not address_allowed(host, self._allowed):
            raise _refused(host, "it is a private, loopback or link-local address")

    async def _read(self, response: aiohttp.ClientResponse, url: str) -> bytes:
        limit = self.policy.max_bytes
        declared = response.content_length
        if declared is not None and declared > limit:
            raise _refused(_host(url), f"it is larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise _refused(_host(url), f"it is larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _host(url: str) -> str:
    return urlsplit(url).hostname or url[:40]


def _refused(host: str, why: str) -> GatewayError:
    return GatewayError(
        400, f"The URL on host '{host}' was not fetched: {why}.", code="url_not_allowed"
    )
