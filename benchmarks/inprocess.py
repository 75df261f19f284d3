"""A chain's CPU per call against the default chain's, in one process: ``python -m
benchmarks.inprocess --chain benchmarks/chains/pii.toml --scenario chat-2k-fresh``.

`run.py` measures whole servers over HTTP, which is what users get, but on a shared host one
repeat's ratio scatters by ±0.1-0.15. This tool judges a plugin's own cost: two Gateways
(the default chain -- auth and logging, as `run.py`'s ``litegate`` target -- and the chain
file's) in this process, calling the fake upstream (a separate process) through
`Gateway.run`, in interleaved batches, with ``time.process_time`` around each batch. Host
noise then moves both sides of a ratio alike. It leaves out HTTP parsing, so its ratios are
larger than the server's (for `chat-2k` the server's excess is ~0.6x this one's); use it to
compare versions of a plugin, `run.py` for the issues' figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from .load import ALL_SCENARIOS, MASTER_KEY, Scenario
from .run import (
    CHAT_DEPLOYMENTS,
    LITEGATE_CONFIG,
    OUT,
    Server,
    _free_port,
    _ready,
    chain_config,
    chain_setup,
)

#: Calls through each gateway before measuring (pools, caches, the specializing interpreter).
WARMUP_CALLS = 500
#: The scenarios' paths and the pipeline endpoints they are.
ENDPOINTS = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "completions",
    "/v1/embeddings": "embeddings",
}


def gateway_config(
    chain: Path | None, scratch: Path, upstream: str, name: str | None = None
) -> Path:
    """Write the config of the default chain (`chain` None: auth and logging, as `run.py`'s
    ``litegate`` target) or of a chain file, against `upstream`, into `scratch`. Gateways
    of configs with other `name`s share no file (database, logs)."""
    if name is None:
        name = "base" if chain is None else "chain"
    fields = {
        "port": _free_port(),
        "log": scratch / f"{name}-access.log",
        "db": scratch / f"{name}.db",
        "key": MASTER_KEY,
        "upstream": upstream,
        "chat": CHAT_DEPLOYMENTS["openai"].format(upstream=upstream),
    }
    config = scratch / f"{name}.toml"
    if chain is None:
        config.write_text(LITEGATE_CONFIG.format(**fields))
    else:
        config.write_text(chain_config(chain, f"inprocess-{name}", fields))
        chain_setup(chain, config)
    return config


def request_bodies(scenario: Scenario, count: int) -> list[bytes]:
    """`count` request bodies of `scenario` (each its own with `variants`)."""
    if scenario.variants:
        return [orjson.dumps(b) for b in scenario.variants(count)]
    return [orjson.dumps(scenario.body)] * count


async def call_once(gateway: Any, endpoint: str, raw: bytes) -> None:
    """One call through `gateway`, as the HTTP app makes it: parsed body, the load
    generator's key, a stream read to its end."""
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    run = await gateway.run(gateway.new_call(endpoint, orjson.loads(raw), headers=headers))
    if run.stream is not None:
        async for _ in run.stream.chunks:
            pass
    await run.finish()


async def compare(
    chain: Path, scenario: Scenario, calls: int, batch: int, upstream: str
) -> dict[str, Any]:
    """Run `calls` calls through each gateway in interleaved batches of `batch`; returns the
    CPU microseconds per call of each and the median of the per-batch ratios."""
    from litegate import Gateway
    from litegate.gc_tuning import tune_gc

    scratch = Path(tempfile.mkdtemp(prefix="inprocess-", dir=OUT))  # under out/, ignored
    gateways = {
        "base": Gateway.from_config(gateway_config(None, scratch, upstream)),
        "chain": Gateway.from_config(gateway_config(chain, scratch, upstream)),
    }
    for gateway in gateways.values():
        await gateway.start()
    total = WARMUP_CALLS + calls
    bodies = request_bodies(scenario, total)
    endpoint = ENDPOINTS[scenario.path]

    for raw in bodies[:WARMUP_CALLS]:
        for gateway in gateways.values():
            await call_once(gateway, endpoint, raw)
    tune_gc()  # as the server does after start-up
    spent = {"base": 0.0, "chain": 0.0}
    ratios = []
    for start in range(WARMUP_CALLS, total, batch):
        this = {}
        for name, gateway in gateways.items():
            began = time.process_time()
            for raw in bodies[start : start + batch]:
                await call_once(gateway, endpoint, raw)
            this[name] = time.process_time() - began
            spent[name] += this[name]
        if this["base"] > 0:
            ratios.append(this["chain"] / this["base"])
    for gateway in gateways.values():
        await gateway.aclose()
    return {
        "base_us": spent["base"] / calls * 1e6,
        "chain_us": spent["chain"] / calls * 1e6,
        "median_ratio": statistics.median(ratios),
        "batches": len(ratios),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chain", type=Path, required=True, help="benchmarks/chains/*.toml")
    parser.add_argument(
        "--scenario", default="chat-2k-fresh", choices=[s.name for s in ALL_SCENARIOS]
    )
    parser.add_argument("--calls", type=int, default=8000, help="measured calls per chain")
    parser.add_argument("--batch", type=int, default=250, help="calls per interleaved batch")
    args = parser.parse_args()
    scenario = next(s for s in ALL_SCENARIOS if s.name == args.scenario)
    with fake_upstream(scenario) as upstream:
        result = asyncio.run(compare(args.chain, scenario, args.calls, args.batch, upstream))
    print(
        f"{args.scenario}: default chain {result['base_us']:.1f} us/call, "
        f"{args.chain.stem} {result['chain_us']:.1f} us/call; CPU ÷ default chain: "
        f"{result['chain_us'] / result['base_us']:.3f} overall, "
        f"{result['median_ratio']:.3f} median of {result['batches']} batches"
    )


@contextlib.contextmanager
def fake_upstream(scenario: Scenario) -> Iterator[str]:
    """The fake upstream in a process of its own (so its work is not counted), answering
    `scenario`'s requests: its URL."""
    OUT.mkdir(exist_ok=True)
    port = _free_port()
    argv = [sys.executable, "-m", "benchmarks.upstream", f"--port={port}"]
    upstream = Server.start("inprocess-upstream", port, argv, core=None)
    try:
        _ready(upstream, scenario)
        yield f"http://127.0.0.1:{port}"
    finally:
        upstream.stop()


if __name__ == "__main__":
    main()
