"""The garbage collector's settings for a long-running server process (and for benchmarks
that measure calls as the server makes them)."""

from __future__ import annotations

import gc

__all__ = ["tune_gc"]


def tune_gc() -> None:
    """Fewer, cheaper garbage collections for a long-running server process.

    Each call allocates a few hundred short-lived objects, so CPython's default first-
    generation threshold (700) collects every couple of calls; with hundreds of calls in
    flight that was ~100 us a call in the benchmark. Everything imported and built at
    start-up is moved out of the collector's sight (it lives as long as the process): once
    when the app is built, and again when the plugins have started (a database engine, a
    tokenizer and their imports are ~50k objects, ~20 ms per full collection).
    """
    gc.collect()
    gc.freeze()
    _gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(10_000, gen1, gen2)
