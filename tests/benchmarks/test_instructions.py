"""The instruction-count comparison runs end to end under Valgrind (a small run)."""

from __future__ import annotations

import re
import shutil

import pytest

from .tools import run_tool


@pytest.mark.skipif(
    shutil.which("valgrind") is None,
    reason="valgrind is not installed (apt-get install valgrind; scripts/test installs it)",
)
def test_a_chain_costs_more_instructions_than_the_default_chain():
    done = run_tool(
        "instructions",
        *("--chain", "benchmarks/chains/pii.toml", "--scenario", "chat-2k-fresh"),
        *("--calls", "20"),
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = done.stdout.strip().splitlines()[-1]
    found = re.search(r"default chain ([\d,]+) instructions/call, pii ([\d,]+); ", line)
    assert found, line
    base, chain = (int(group.replace(",", "")) for group in found.groups())
    # A call through the default chain is some hundred thousand instructions; scanning a
    # fresh 2 KB prompt for personal data adds to that.
    assert 50_000 < base < chain, line


def test_calls_must_be_positive():
    done = run_tool("instructions", "--chain", "x.toml", "--calls", "0", timeout=60)
    assert done.returncode == 2
    assert "--calls must be at least 1" in done.stderr
