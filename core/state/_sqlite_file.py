"""The disk backend's own SQLite file: the tables it updates on every call (rate-limit
windows, counters), kept out of diskcache because each diskcache write also does size
accounting, eviction and pickling that a number does not need (~35 us against ~15 us here).

One connection per process, in WAL mode, shared by every worker process of the host through
the file: a write is one ``BEGIN IMMEDIATE`` transaction, which serialises it against every
other process. Counters can be rebuilt (a lost window forgets at most a minute of use, a
budget's counter is seeded from the spend ledger), so commits skip the fsync.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator, Sequence

from ._base import StateUnavailable

__all__ = ["SqliteFile"]


class SqliteFile:
    def __init__(self, path: str, timeout: float, schema: Sequence[str]) -> None:
        self.path = path
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves (the Python default would
        # start a deferred transaction, which can deadlock two writers into SQLITE_BUSY).
        self.db = sqlite3.connect(
            path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        # Workers start together: switching the file to WAL needs a moment alone with it, and
        # SQLite answers "locked" at once instead of waiting, so retry until `timeout`.
        deadline = time.monotonic() + max(timeout, 1.0)
        while True:
            try:
                self._setup(schema)
                break
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) and time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                self.db.close()
                raise StateUnavailable(f"the state file {path} failed: {exc}") from None

    def _setup(self, schema: Sequence[str]) -> None:
        db = self.db
        if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        # RETURNING and multi-row updates go through scratch tables: keep them in memory,
        # not in the temporary files SQLite would create and delete (several times the cost).
        db.execute("PRAGMA temp_store=MEMORY")
        for statement in schema:
            db.execute(statement)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back when it raises.
        Nothing inside may await (the connection is this process's only one)."""
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise StateUnavailable(f"the state file {self.path} failed: {exc}") from None

    def one(self, sql: str, params: Sequence[object]) -> tuple[object, ...] | None:
        """One statement on its own (its own transaction, for a write), and its first row.
        A write that needs no read first is half the statements of a `transaction()`, and
        the statements, not the rows, are what a small table's writes cost. Reads never
        wait (WAL)."""
        try:
            row: tuple[object, ...] | None = self.db.execute(sql, params).fetchone()
        except sqlite3.OperationalError as exc:
            raise StateUnavailable(f"the state file {self.path} failed: {exc}") from None
        return row

    def close(self) -> None:
        self.db.close()
