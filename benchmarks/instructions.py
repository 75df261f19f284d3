"""A chain's machine instructions per call against the default chain's, counted by Valgrind:
``python -m benchmarks.instructions --chain benchmarks/chains/pii.toml --scenario
chat-2k-fresh``.

Timings on a shared host scatter (`run.py`'s per-repeat ratios by ±0.1-0.15, `inprocess.py`'s
by ±0.07 when a neighbour is busy). An instruction count does not: the same code path
executes the same instructions however busy the machine is, so a change that saves 2 % of a
plugin's work shows as 2 %. Each chain's gateway runs in a driver process under Valgrind's
cachegrind (``--cache-sim=no``: counting only) twice, once with the warm-up calls alone and
once with `--calls` more; the difference divided by `--calls` is that chain's instructions
per call, without start-up, imports or warm-up. The fake upstream runs outside Valgrind.

What it does not see: cache misses and branch mispredictions, which make a busy server's
CPU time per instruction differ between code paths (a plugin's scan that runs once per
request is "cold" every time). Use it to judge changes to a plugin's code, `run.py` for the
issues' figures. Needs ``valgrind`` (Debian's package).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .inprocess import (
    ENDPOINTS,
    call_once,
    fake_upstream,
    gateway_config,
    request_bodies,
)
from .load import ALL_SCENARIOS, Scenario
from .run import OUT, ROOT, _child_env

#: Calls before the counted ones (pools, caches, the specializing interpreter).
WARMUP_CALLS = 300
#: Request bodies built by every driver, whatever its number of calls, so that building
#: them costs the same in the two runs whose difference is taken.
BODIES = 4000
_TOTAL = re.compile(r"I\s+refs:\s+([\d,]+)")


async def drive(config: Path, scenario: Scenario, calls: int) -> None:
    """The driver: `WARMUP_CALLS` + `calls` calls through the gateway of `config`."""
    from litegate import Gateway
    from litegate.gc_tuning import tune_gc

    if WARMUP_CALLS + calls > BODIES:
        raise SystemExit(f"--calls: at most {BODIES - WARMUP_CALLS}")
    bodies = request_bodies(scenario, BODIES)
    endpoint = ENDPOINTS[scenario.path]
    gateway = Gateway.from_config(config)
    await gateway.start()
    for raw in bodies[:WARMUP_CALLS]:
        await call_once(gateway, endpoint, raw)
    tune_gc()  # as the server does after start-up
    for raw in bodies[WARMUP_CALLS : WARMUP_CALLS + calls]:
        await call_once(gateway, endpoint, raw)
    await gateway.aclose()


def count(config: Path, scenario: str, calls: int) -> int:
    """Instructions a driver process with `calls` counted calls executes, start to end."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "benchmarks.instructions",
            "--drive",
            str(config),
            "--scenario",
            scenario,
            "--calls",
            str(calls),
        ],
        cwd=ROOT,
        env=_child_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    found = _TOTAL.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"the driver under valgrind failed:\n{done.stderr[-3000:]}")
    return int(found.group(1).replace(",", ""))


def per_call(drivers: list[tuple[Path, Path]], scenario: str, calls: int) -> list[float]:
    """Instructions per call of each gateway, given the configs of its two drivers (one
    with `calls` calls, one with none; they share no file): warm-up and start-up
    subtracted. The drivers run side by side (a count does not depend on the machine's
    load), so this takes as long as the slowest two on two cores."""
    runs = [(config, n) for pair in drivers for config, n in zip(pair, (calls, 0), strict=True)]
    with concurrent.futures.ThreadPoolExecutor(len(runs)) as pool:
        totals = list(pool.map(lambda run: count(run[0], scenario, run[1]), runs))
    return [(totals[2 * i] - totals[2 * i + 1]) / calls for i in range(len(drivers))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chain", type=Path, help="benchmarks/chains/*.toml")
    parser.add_argument(
        "--scenario", default="chat-2k-fresh", choices=[s.name for s in ALL_SCENARIOS]
    )
    parser.add_argument("--calls", type=int, default=1000, help="counted calls per chain")
    parser.add_argument("--drive", type=Path, help=argparse.SUPPRESS)  # the driver's config
    args = parser.parse_args()
    if args.calls < 0:
        parser.error("--calls must be at least 0")
    if args.drive is not None:
        scenario = next(s for s in ALL_SCENARIOS if s.name == args.scenario)
        asyncio.run(drive(args.drive, scenario, args.calls))
        return
    if args.chain is None:
        parser.error("--chain is required")
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    scenario = next(s for s in ALL_SCENARIOS if s.name == args.scenario)
    with fake_upstream(scenario) as upstream:
        scratch = Path(tempfile.mkdtemp(prefix="instructions-", dir=OUT))  # under out/
        drivers = [
            (
                gateway_config(file, scratch, upstream, name=f"{label}-counted"),
                gateway_config(file, scratch, upstream, name=f"{label}-warm-up"),
            )
            for label, file in (("base", None), ("chain", args.chain))
        ]
        base, chain = per_call(drivers, args.scenario, args.calls)
    print(
        f"{args.scenario}: default chain {base:,.0f} instructions/call, "
        f"{args.chain.stem} {chain:,.0f}; ÷ default chain: {chain / base:.3f}"
    )


if __name__ == "__main__":
    main()
