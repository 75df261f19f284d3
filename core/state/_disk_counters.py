"""The disk backend's counters (`incr`, `incr_float`, `reserve`): one SQLite table of numbers.

Budgets reserve and settle on every call, so these are, with the rate-limit windows, what the
disk backend writes most; here each is one small transaction in `SqliteFile` instead of a
diskcache transaction (~2x cheaper). Unlike windows, counters are ordinary keys: `get`,
`set`, `delete` and `compare_and_set` see them. `DiskState` keeps the two stores consistent
by one rule: a key lives in at most one of them, and every write that may move a key from one
to the other holds this file's write lock first (then diskcache's, never the other order).

A row keeps its number with SQLite's own type (INTEGER or REAL: ``incr`` counts stay ints)
and its expiry as a UNIX time; an expired row is a missing key, swept now and then.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from ._sqlite_file import SqliteFile

__all__ = ["COUNTERS_SCHEMA", "CounterTable"]

COUNTERS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value NOT NULL, expires REAL)"
)

#: Sweep expired rows every `SWEEP_EVERY` writes.
SWEEP_EVERY = 10_000

Number = int | float


class CounterTable:
    def __init__(self, file: SqliteFile) -> None:
        self.file = file
        self._writes = 0

    def get(self, key: str) -> tuple[bool, Number | None]:
        """``(has a row, its live value)``: a row that expired is ``(True, None)``, and then
        the key is missing everywhere."""
        found, value, _ = _live(self.file.one(_SELECT, (key,)), time.time())
        return found, value

    def add_to_live(
        self, key: str, amount: Number, now: float, expires: float | None, ceiling: float | None
    ) -> Number | None:
        """The common case in one statement: add `amount` to a live row (an integer one when
        `amount` is an int) whose total stays within `ceiling`, giving it `expires` if it
        has no expiry; the new total. None when any of that does not hold: then the caller
        decides in a `transaction()` (a missing or expired key, another kind, a refusal)."""
        row = self.file.one(
            "UPDATE counters SET value = value + ?2, expires = coalesce(expires, ?3) "
            "WHERE key = ?1 AND (expires IS NULL OR expires > ?4) "
            "AND (?5 OR typeof(value) = 'integer') AND (?6 IS NULL OR value + ?2 <= ?6) "
            "RETURNING value",
            (key, amount, expires, now, isinstance(amount, float), ceiling),
        )
        self._count_write()
        return None if row is None else row[0]  # type: ignore[return-value]

    def _count_write(self) -> None:
        self._writes += 1
        if self._writes >= SWEEP_EVERY:
            self._writes = 0
            self.file.one("DELETE FROM counters WHERE expires < ?", (time.time(),))

    # Within a `SqliteFile.transaction()`:

    @staticmethod
    def lookup(
        db: sqlite3.Connection, key: str, now: float
    ) -> tuple[bool, Number | None, float | None]:
        """``(has a row, live value, its expiry)``."""
        return _live(db.execute(_SELECT, (key,)).fetchone(), now)

    def store(self, db: sqlite3.Connection, key: str, value: Number, expires: float | None) -> None:
        db.execute(
            "INSERT INTO counters (key, value, expires) VALUES (?, ?, ?) ON CONFLICT (key) "
            "DO UPDATE SET value = excluded.value, expires = excluded.expires",
            (key, value, expires),
        )

    @staticmethod
    def remove(db: sqlite3.Connection, key: str) -> bool:
        """Delete `key`'s row; whether there was one."""
        return db.execute("DELETE FROM counters WHERE key = ?", (key,)).rowcount > 0


_SELECT = "SELECT value, expires FROM counters WHERE key = ?"


def _live(row: Any, now: float) -> tuple[bool, Number | None, float | None]:
    """``(has a row, live value, its expiry)`` of a `_SELECT` row: an expired one has none."""
    if row is None:
        return False, None, None
    value, expires = row
    if expires is not None and expires <= now:
        return True, None, None
    return True, value, expires
