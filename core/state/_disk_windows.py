"""The disk backend's rate-limit windows: one SQLite table of theoretical arrival times.

A window is one float per key, updated on every call a limit guards, so it is the hottest
thing the disk backend writes. Through diskcache each update costs ~130 us (its `set` keeps
size accounting, eviction and pickling we don't need for a float); here it is one
``BEGIN IMMEDIATE`` transaction of a SELECT and an UPSERT on a plain table, in the same
directory, shared by every worker process of the host the same way. Windows live in their
own namespace: `State.get`/`delete` don't see them (nothing reads a window but GCRA).
A row whose time has passed means "no debt", exactly like a missing one; rows that passed
long ago are swept now and then so the table stays the size of the keys in use.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence

from ._base import StateUnavailable

__all__ = ["WindowTable"]

#: Sweep rows that passed this long ago, every `SWEEP_EVERY` writes.
SWEEP_AGE = 3600.0
SWEEP_EVERY = 10_000


class WindowTable:
    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves (the Python default would
        # start a deferred transaction, which can deadlock two writers into SQLITE_BUSY).
        self._db = sqlite3.connect(
            path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        # Workers start together: switching the file to WAL needs a moment alone with it, and
        # SQLite answers "locked" at once instead of waiting, so retry until `timeout`.
        deadline = time.monotonic() + max(timeout, 1.0)
        while True:
            try:
                self._setup()
                break
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) and time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                self._db.close()
                raise StateUnavailable(f"the window table {path} failed: {exc}") from None
        self._writes = 0

    def _setup(self) -> None:
        db = self._db
        if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            db.execute("PRAGMA journal_mode=WAL")
        # Counters can be rebuilt (a lost window forgets at most a minute of use): no
        # fsync per commit.
        db.execute("PRAGMA synchronous=OFF")
        db.execute("CREATE TABLE IF NOT EXISTS windows (key TEXT PRIMARY KEY, tat REAL NOT NULL)")

    def close(self) -> None:
        self._db.close()

    def run(
        self,
        keys: Sequence[str],
        step: Callable[
            [Callable[[str], float | None], Callable[[str, float | None], None]], object
        ],
    ) -> object:
        """Run `step(read, write)` on `keys` in one transaction; `write(key, None)` deletes."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                if len(keys) == 1:
                    row = db.execute("SELECT tat FROM windows WHERE key = ?", keys).fetchone()
                    found = {keys[0]: row[0]} if row else {}
                else:
                    marks = ",".join("?" * len(keys))
                    found = dict(
                        db.execute(f"SELECT key, tat FROM windows WHERE key IN ({marks})", keys)
                    )
                writes: dict[str, float | None] = {}
                result = step(found.get, writes.__setitem__)
                for key, tat in writes.items():
                    if tat is None:
                        db.execute("DELETE FROM windows WHERE key = ?", (key,))
                    else:
                        db.execute(
                            "INSERT INTO windows (key, tat) VALUES (?, ?) "
                            "ON CONFLICT (key) DO UPDATE SET tat = excluded.tat",
                            (key, tat),
                        )
                self._writes += len(writes)
                if self._writes >= SWEEP_EVERY:
                    self._writes = 0
                    db.execute("DELETE FROM windows WHERE tat < ?", (time.time() - SWEEP_AGE,))
                db.execute("COMMIT")
                return result
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise StateUnavailable(f"the window table {self.path} failed: {exc}") from None
