"""The in-process chain comparison runs end to end (a small run: it is a tool, not a timing)."""

from __future__ import annotations

import re

from .tools import run_tool


def test_a_chain_is_compared_with_the_default_chain_in_one_process():
    done = run_tool(
        "inprocess",
        *("--chain", "benchmarks/chains/pii.toml", "--scenario", "chat-2k-fresh"),
        *("--calls", "200", "--batch", "100"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = done.stdout.strip().splitlines()[-1]
    found = re.search(r"overall, (\d+\.\d+) median of 2 batches", line)
    assert found and float(found.group(1)) > 0.5, line
