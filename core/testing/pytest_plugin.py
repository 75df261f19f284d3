"""pytest fixtures for testing litegate and its plugins (registered via the pytest11 entry
point, so installing litegate makes them available)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..gateway import Gateway
from .fake_openai import FakeOpenAI
from .server import GatewayServer
from .services import POSTGRES_URL, REDIS_URL, require_service, throwaway_database


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    """A fake OpenAI upstream over real HTTP; its ``base_url`` goes into ``api_base``."""
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def make_gateway() -> Iterator[Callable[..., Gateway]]:
    """Build in-process Gateways from inline TOML: ``make_gateway(toml, env={...})``."""
    built: list[Gateway] = []

    def make(
        toml: str,
        env: dict[str, str] | None = None,
        *,
        plugins: dict[str, type] | None = None,
        providers: dict[str, type] | None = None,
    ) -> Gateway:
        """`plugins` / `providers`: classes to use for names not installed as entry points."""
        gateway = Gateway.from_toml(
            toml, env=env or {}, plugins=plugins or {}, providers=providers or {}
        )
        built.append(gateway)
        return gateway

    yield make
    for gateway in built:
        gateway.close()


@pytest.fixture
def serve_gateway() -> Iterator[Callable[..., GatewayServer]]:
    """Serve a Gateway over real HTTP: ``server = serve_gateway(toml)``; ``server.base_url``."""
    servers: list[GatewayServer] = []

    def serve(
        toml: str,
        env: dict[str, str] | None = None,
        *,
        plugins: dict[str, type] | None = None,
        providers: dict[str, type] | None = None,
    ) -> GatewayServer:
        """`plugins` / `providers`: classes to use for names not installed as entry points."""
        gateway = Gateway.from_toml(
            toml, env=env or {}, plugins=plugins or {}, providers=providers or {}
        )
        server = GatewayServer(gateway).start()
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.stop()


@pytest.fixture
def postgres_url() -> str:
    """The test PostgreSQL (database ``test``); skips on machines without it."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL


@pytest.fixture
def redis_url() -> str:
    """The test Redis; skips on machines without it."""
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def records_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A `[state] db` URL for an empty database, once per backend: a SQLite file under
    `tmp_path`, then a throwaway PostgreSQL database. A gateway given it migrates it on
    first use (`Gateway.open_db`)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/records/litegate.db"
        return
    with throwaway_database(request.getfixturevalue("postgres_url")) as url:
        yield url
