"""The semantic cache's vector index: prompt embeddings in a SQLite file, searched by brute
force with numpy.

One row per cached answer: its bucket (tenant, alias, parameters and conversation but the
last prompt -- see `keys.semantic_bucket`), the exact-match key of the answer, and the
prompt's unit-length float32 vector. A search loads one bucket's live vectors and takes
the best dot product (= cosine similarity). Buckets are small (`max_per_bucket`), so this
costs well under a millisecond next to the embedding call that precedes it. The file is
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


class SemanticIndex:
    def __init__(self, path: str | Path, max_per_bucket: int) -> None:
        self.np = _numpy()
        self.path = Path(path)
        self.max_per_bucket = max_per_bucket
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)

    def search(self, bucket: str, vector: Any, now: float) -> tuple[str, float] | None:
        """The entry key of the most similar live vector in `bucket`, and its similarity."""
        with self._lock:
            rows = self._db.execute(
                "SELECT entry, vector FROM vectors WHERE bucket = ? AND expires_at > ?",
                (bucket, now),
            ).fetchall()
        rows = [row for row in rows if len(row[1]) == vector.nbytes]
        if not rows:
            return None
        np = self.np
        matrix = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32)
        scores = matrix.reshape(len(rows), vector.shape[0]) @ vector
        best = int(np.argmax(scores))
        return rows[best][0], float(scores[best])

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
        with self._lock, self._db:
            return self._db.execute(sql, args).rowcount

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
