"""The Database: one engine and its sessions for a `[state] db` URL, plus its migrations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from . import migrate
from .engine import async_url, create_engine, display_url, is_memory

__all__ = ["Database"]


class Database:
    """Records storage for one gateway.

    ``await db.upgrade()`` migrates (safe when several workers start at once); ``await
    db.connect()`` opens the engine; ``async with db.session() as s:`` is one transaction,
    committed when the block ends, rolled back when it raises; ``await db.aclose()``.
    """

    def __init__(self, url: str | URL, *, echo: bool = False) -> None:
        self.url = async_url(url)
        self.echo = echo
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    def __repr__(self) -> str:
        return f"Database({display_url(self.url)!r})"

    @property
    def dialect(self) -> str:
        """The backend's name: sqlite or postgresql."""
        return self.url.get_backend_name()

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError(f"{self!r} is not connected; await connect() first")
        return self._engine

    async def connect(self) -> None:
        """Open the engine and check that the database answers."""
        if self._engine is not None:
            return
        engine = create_engine(self.url, echo=self.echo)
        try:
            async with engine.connect() as connection:
                await connection.exec_driver_sql("SELECT 1")
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine
        # Objects stay readable after their transaction commits (no lazy reloads in async).
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def aclose(self) -> None:
        engine, self._engine, self._sessions = self._engine, None, None
        if engine is not None:
            await engine.dispose()

    async def __aenter__(self) -> Database:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One transaction: commits when the block ends, rolls back if it raises."""
        if self._sessions is None:
            raise RuntimeError(f"{self!r} is not connected; await connect() first")
        async with self._sessions() as session, session.begin():
            yield session

    async def upgrade(self, revision: str = "head") -> str | None:
        """Apply the migrations up to `revision` (under a lock); return the revision reached.

        Needs no `connect()`: it uses a connection of its own, closed when done (except for
        an in-memory SQLite database, which only the connected engine can reach).
        """
        if is_memory(self.url):
            return await migrate.upgrade(self.engine, revision)
        return await migrate.upgrade(self.url, revision)

    async def current_revision(self) -> str | None:
        """The migration the database is at; None when it was never migrated."""
        if self._engine is not None:
            async with self._engine.connect() as connection:
                return await connection.run_sync(migrate.current_revision)
        if self.dialect == "sqlite" and not is_memory(self.url) and not _file_exists(self.url):
            return None  # and don't create the file just to look
        engine = create_engine(self.url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(migrate.current_revision)
        finally:
            await engine.dispose()

    @staticmethod
    def head_revision() -> str:
        """The newest migration this version of litegate ships."""
        return migrate.head_revision()


def _file_exists(url: URL) -> bool:
    return url.database is not None and Path(url.database).exists()
