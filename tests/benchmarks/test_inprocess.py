"""The in-process chain comparison runs end to end (a small run: it is a tool, not a timing)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_chain_is_compared_with_the_default_chain_in_one_process():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.inprocess",
            "--chain",
            "benchmarks/chains/pii.toml",
            "--scenario",
            "chat-2k-fresh",
            "--calls",
            "200",
            "--batch",
            "100",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = done.stdout.strip().splitlines()[-1]
    found = re.search(r"overall, (\d+\.\d+) median of 2 batches", line)
    assert found and float(found.group(1)) > 0.5, line
