"""The server's garbage-collector settings: start-up objects frozen, rarer young collections."""

from __future__ import annotations

import gc

from litegate.gc_tuning import tune_gc


def test_tune_gc_freezes_what_exists_and_raises_the_young_threshold():
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (10_000, *before[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
