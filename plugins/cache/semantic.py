"""The semantic cache's vector index: prompt embeddings in a SQLite file, searched by brute
force with numpy.

One row per cached answer: its bucket (tenant, alias, parameters and conversation but the
last prompt -- see `keys.semantic_bucket`), the exact-match key of the answer, and the
prompt's unit-length float32 vector. A search takes the best dot product (= cosine
similarity) over the bucket's live vectors, which each worker mirrors in memory and tops up
with the rows added since its last search. Buckets are small (`max_per_bucket`), so this
costs far less than the embedding call that precedes it. The file is
shared by the workers of one host (SQLite in WAL mode); the answers themselves stay in the
cache's tiers, so an index row whose answer expired or was purged is just a miss.

Scaling out: every host keeps its own index (answers found through it still come from the
shared tier). Past one host or a few hundred thousand vectors, put the same three calls
(`add`, `search`, `purge`) over a vector store -- pgvector, Redis vector search, Qdrant --
behind this class's interface.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

__all__ = ["SemanticIndex", "unit_vector"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    bucket TEXT NOT NULL,
    entry TEXT NOT NULL,
    tenant TEXT NOT NULL,
    model TEXT NOT NULL,
    stored_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (bucket, entry)
);
CREATE INDEX IF NOT EXISTS vectors_tenant ON vectors (tenant);
CREATE INDEX IF NOT EXISTS vectors_model ON vectors (model);
"""


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        raise ValueError(
            "the semantic cache needs numpy: pip install 'litegate[semantic]'"
        ) from None
    return numpy


def unit_vector(values: Any) -> Any:
    """`values` as a float32 numpy vector of length 1 (None when it is all zeros)."""
    np = _numpy()
    vector = np.asarray(values, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    if vector.ndim != 1 or not norm > 0:
        return None
    return vector / norm


#: Buckets whose vectors each worker keeps in memory (least recently searched go first).
MIRRORED_BUCKETS = 256


class _Mirror:
    """One bucket's vectors in this worker's memory, read incrementally by rowid."""

    __slots__ = ("dim", "entries", "expires", "last_rowid", "matrix")

    def __init__(self, np: Any, dim: int) -> None:
        self.dim = dim
        self.entries: list[str] = []
        self.expires = np.zeros(0, dtype=np.float64)
        self.matrix = np.zeros((0, dim), dtype=np.float32)
        self.last_rowid = 0

    def extend(self, np: Any, rows: list[Any], keep: int) -> None:
        self.last_rowid = rows[-1][0]
        rows = [row for row in rows if len(row[3]) == self.dim * 4]
        if not rows:
            return
        new = np.frombuffer(b"".join(row[3] for row in rows), dtype=np.float32)
        self.matrix = np.vstack([self.matrix, new.reshape(len(rows), self.dim)])[-keep:]
        self.expires = np.concatenate([self.expires, [row[2] for row in rows]])[-keep:]
        self.entries = (self.entries + [row[1] for row in rows])[-keep:]


class SemanticIndex:
    def __init__(self, path: str | Path, max_per_bucket: int) -> None:
        self.np = _numpy()
        self.path = Path(path)
        self.max_per_bucket = max_per_bucket
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
        self._lock = threading.Lock()
        self._mirrors: dict[str, _Mirror] = {}
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def search(self, bucket: str, vector: Any, now: float) -> tuple[str, float] | None:
        """The entry key of the most similar live vector in `bucket`, and its similarity.

        Each worker mirrors the buckets it searches and reads only the rows added since
        (rowids grow), so a search costs one indexed query and one matrix product."""
        np = self.np
        mirror = self._mirrors.pop(bucket, None)
        if mirror is None or mirror.dim != vector.shape[0]:
            mirror = _Mirror(np, vector.shape[0])
        self._mirrors[bucket] = mirror
        while len(self._mirrors) > MIRRORED_BUCKETS:
            del self._mirrors[next(iter(self._mirrors))]
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid, entry, expires_at, vector FROM vectors"
                " WHERE bucket = ? AND rowid > ? ORDER BY rowid",
                (bucket, mirror.last_rowid),
            ).fetchall()
        if rows:
            mirror.extend(np, rows, self.max_per_bucket)
        if not mirror.entries:
            return None
        scores = mirror.matrix @ vector
        scores[mirror.expires <= now] = -np.inf
        best = int(np.argmax(scores))
        if scores[best] == -np.inf:
            return None
        return mirror.entries[best], float(scores[best])

    def forget(self) -> None:
        """Drop this worker's mirrors (after a purge: rows may have been deleted)."""
        self._mirrors.clear()

    def add(
        self,
        bucket: str,
        entry: str,
        vector: Any,
        *,
        tenant: str,
        model: str,
        stored_at: float,
        expires_at: float,
    ) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?, ?, ?, ?)",
                (bucket, entry, tenant, model, stored_at, expires_at, vector.tobytes()),
            )
            self._db.execute(
                "DELETE FROM vectors WHERE bucket = ? AND (expires_at <= ? OR entry IN ("
                " SELECT entry FROM vectors WHERE bucket = ?"
                " ORDER BY stored_at DESC LIMIT -1 OFFSET ?))",
                (bucket, stored_at, bucket, self.max_per_bucket),
            )

    def purge(
        self, *, tenant: str | None = None, model: str | None = None, entry: str | None = None
    ) -> int:
        """Delete the rows of `tenant`, `model` or `entry` (all rows when none is given)."""
        where, args = [], []
        for column, value in (("tenant", tenant), ("model", model), ("entry", entry)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "DELETE FROM vectors" + (" WHERE " + " AND ".join(where) if where else "")
        self.forget()
        with self._lock, self._db:
            return self._db.execute(sql, args).rowcount

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
