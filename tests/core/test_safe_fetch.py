"""The guarded fetcher: the SSRF matrix (private, loopback, link-local and metadata addresses,
names that resolve to them, redirects to them) is refused without ever connecting; size and
time limits hold; an allowed URL is fetched."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver

from litegate import GatewayError
from litegate.safe_fetch import FetchPolicy, SafeFetcher, address_allowed

#: Test DNS: names mapped to addresses, so no lookup leaves the machine.
NAMES = {
    "metadata.test": ["169.254.169.254"],
    "internal.test": ["10.1.2.3"],
    "rebind.test": ["192.168.0.10", "fd00::1"],
    "mapped.test": ["::ffff:10.0.0.1"],
    "localhost.test": ["127.0.0.1"],
    "public.test": ["93.184.216.34"],
}

BLOCKED_LITERALS = [
    "http://127.0.0.1/",
    "http://127.1.2.3:8080/x",
    "http://[::1]/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://[fe80::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://0.0.0.0/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
]
BLOCKED_NAMES = [f"http://{name}/img.png" for name in NAMES if name != "public.test"]
BAD_SCHEMES = ["file:///etc/passwd", "ftp://example.com/x", "gopher://example.com/", "data:,x"]


class MappedResolver(AbstractResolver):
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def resolve(self, host, port=0, family=socket.AF_INET):
        self.asked.append(host)
        if host not in NAMES:
            raise OSError(f"unknown test name {host}")
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in NAMES[host]
        ]

    async def close(self) -> None:
        pass


async def _refused(fetcher: SafeFetcher, url: str) -> str:
    with pytest.raises(GatewayError) as caught:
        await fetcher.fetch(url)
    assert caught.value.status == 400 and caught.value.code == "url_not_allowed"
    return caught.value.message


@pytest.mark.parametrize("url", BLOCKED_LITERALS + BLOCKED_NAMES + BAD_SCHEMES)
async def test_the_ssrf_matrix_is_refused(url):
    await _refused(SafeFetcher(resolver=MappedResolver()), url)


def test_address_rules():
    assert address_allowed("93.184.216.34") and address_allowed("2606:2800:220:1::1")
    for address in ("127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "fd00::1", "not-an-ip"):
        assert not address_allowed(address)
    assert address_allowed("10.0.0.1", FetchPolicy(allow_networks=("10.0.0.0/8",)).networks())


@pytest.fixture
async def origin():
    """A local image server (allowed explicitly, as an operator would an internal store)."""

    async def image(_request):
        return web.Response(body=b"\x89PNG...", content_type="image/png")

    async def redirect(request):
        raise web.HTTPFound(request.query["to"])

    async def huge(_request):
        return web.Response(body=b"x" * 5000, content_type="image/png")

    async def slow(_request):
        await asyncio.sleep(3)
        return web.Response(body=b"late")

    async def loop(request):
        raise web.HTTPFound("/loop")

    app = web.Application()
    app.add_routes(
        [
            web.get("/image.png", image),
            web.get("/redirect", redirect),
            web.get("/huge", huge),
            web.get("/slow", slow),
            web.get("/loop", loop),
        ]
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def _allowing_origin(**policy) -> SafeFetcher:
    return SafeFetcher(
        FetchPolicy(allow_networks=("127.0.0.1/32",), **policy), resolver=MappedResolver()
    )


async def test_an_allowed_url_is_fetched(origin):
    fetched = await _allowing_origin().fetch(origin + "/image.png")
    assert fetched.data == b"\x89PNG..." and fetched.content_type == "image/png"
    # Following a redirect to an allowed place works too.
    fetched = await _allowing_origin().fetch(origin + "/redirect?to=/image.png")
    assert fetched.data == b"\x89PNG..."


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.test/",
        "http://internal.test/",
        "http://[::1]/",
        "file:///etc/passwd",
    ],
)
async def test_redirects_to_forbidden_places_are_refused(origin, target):
    await _refused(_allowing_origin(), f"{origin}/redirect?to={target}")


async def test_limits(origin):
    message = await _refused(_allowing_origin(max_bytes=1000), origin + "/huge")
    assert "larger than 1000 bytes" in message
    message = await _refused(_allowing_origin(timeout=0.5), origin + "/slow")
    assert "did not answer" in message
    message = await _refused(_allowing_origin(max_redirects=2), origin + "/loop")
    assert "redirects more than 2 times" in message
