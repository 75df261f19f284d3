"""The disk backend's rate-limit windows: one SQLite table of theoretical arrival times.

A window is one float per key, updated on every call a limit guards, so it is the hottest
thing the disk backend writes: one ``BEGIN IMMEDIATE`` transaction of a SELECT and an UPSERT
(in `SqliteFile`, shared by every worker process of the host). Windows live in their own
namespace: `State.get`/`delete` don't see them (nothing reads a window but GCRA).
A row whose time has passed means "no debt", exactly like a missing one; rows that passed
long ago are swept now and then so the table stays the size of the keys in use.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ._sqlite_file import SqliteFile

__all__ = ["WINDOWS_SCHEMA", "WindowTable"]

WINDOWS_SCHEMA = "CREATE TABLE IF NOT EXISTS windows (key TEXT PRIMARY KEY, tat REAL NOT NULL)"

#: Sweep rows that passed this long ago, every `SWEEP_EVERY` writes.
SWEEP_AGE = 3600.0
SWEEP_EVERY = 10_000


class WindowTable:
    def __init__(self, file: SqliteFile) -> None:
        self.file = file
        self._writes = 0

    def charge_live(self, key: str, now: float, seconds: float) -> float | None:
        """`gcra` with force, in one statement, on a row that exists: move its TAT by
        `seconds` (negative gives back), never to before `now`; the new TAT, or None when
        there is no row (then `run` decides)."""
        row = self.file.one(
            "UPDATE windows SET tat = max(max(tat, ?2) + ?3, ?2) WHERE key = ?1 RETURNING tat",
            (key, now, seconds),
        )
        return None if row is None else row[0]  # type: ignore[return-value]

    def run(
        self,
        keys: Sequence[str],
        step: Callable[
            [Callable[[str], float | None], Callable[[str, float | None], None]], object
        ],
    ) -> object:
        """Run `step(read, write)` on `keys` in one transaction; `write(key, None)` deletes."""
        with self.file.transaction() as db:
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
            stored: list[object] = []
            for key, tat in writes.items():
                if tat is None:
                    db.execute("DELETE FROM windows WHERE key = ?", (key,))
                else:
                    stored += (key, tat)
            if stored:  # one statement for all of them
                rows = ",".join(["(?, ?)"] * (len(stored) // 2))
                db.execute(
                    f"INSERT INTO windows (key, tat) VALUES {rows} "
                    "ON CONFLICT (key) DO UPDATE SET tat = excluded.tat",
                    stored,
                )
            self._writes += len(writes)
            if self._writes >= SWEEP_EVERY:
                self._writes = 0
                db.execute("DELETE FROM windows WHERE tat < ?", (time.time() - SWEEP_AGE,))
            return result
