"""Run the whole benchmark and write a Markdown table: ``python -m benchmarks.run [--quick]``.

Starts the fake upstream, the two bare passthrough proxies and litegate (chain: auth with a
master key, logging to a file), then for every scenario measures, back to back:

- ``direct``: the load generator straight to the fake upstream;
- ``httpx``, ``aiohttp``: Starlette + Hypercorn passthrough proxies (the floor of our stack);
- ``litegate``: ``litegate serve`` with that chain;
- ``litegate-anthropic`` (in `ANTHROPIC_SCENARIOS` only): the same, its chat models served by
  an ``anthropic`` deployment (the fake upstream speaks the Messages API too).

Every server that stands between the load and the upstream is pinned to one core; the load
generator, the fake upstream and this script to the other. The gateway's CPU time comes
from /proc/<pid>/stat (utime + stime of it and any children) taken just before and after
each measured run, so it counts only the work done for those requests. See README.md.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import attrs
import orjson

from .load import ALL_SCENARIOS, MASTER_KEY, SCENARIOS, STREAM_EVENTS, Scenario
from .procfs import core_busy_seconds, cpu_seconds, peak_rss_mib, reset_peak_rss
from .report import (
    ANTHROPIC,
    ANTHROPIC_SCENARIOS,
    CHAIN_PREFIX,
    FLOOR,
    LITEGATE,
    Measurement,
    describe_setup,
    render,
)

ROOT = Path(__file__).resolve().parent.parent
WARMUP = next(s for s in SCENARIOS if s.name == "chat-64")
HERE = ROOT / "benchmarks"
OUT = HERE / "out"

SERVER_CONFIG = """\
# Written by benchmarks/run.py.
[server]
host = "127.0.0.1"
port = {port}
workers = 1
"""
STATE_CONFIG = """
[state]
kv = "memory:"
db = "sqlite:///{db}"
"""
LITEGATE_CONFIG = (
    SERVER_CONFIG
    + STATE_CONFIG
    + """
[[pipeline]]
plugin = "auth"
master_key = "{key}"

[[pipeline]]
plugin = "logging"
path = "{log}"

"""
)
MODELS_CONFIG = """
[[models]]
name = "bench"
{chat}

[[models]]
name = "slow"
{chat}

[[models]]
name = "bench-embed"
provider = "openai"
api_base = "{upstream}/v1"
api_key = "sk-upstream"
"""
LITEGATE_CONFIG += MODELS_CONFIG
#: How the chat models (`bench`, `slow`) are deployed, per provider.
CHAT_DEPLOYMENTS = {
    "openai": 'provider = "openai"\napi_base = "{upstream}/v1"\napi_key = "sk-upstream"',
    "anthropic": 'provider = "anthropic"\napi_base = "{upstream}"\napi_key = "sk-ant-upstream"',
}
#: Targets whose `stream-16` answers have another number of ``data:`` events than
#: `STREAM_EVENTS`: Anthropic's stop reason comes in its own event (message_delta), so the
#: finish reason gets a chunk of its own.
STREAM_EVENTS_BY_TARGET = {ANTHROPIC: STREAM_EVENTS + 1}


# -- processes ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _child_env(pythonpath: Path | None = None) -> dict[str, str]:
    # No proxy variables: httpx honours them, and every byte must stay on 127.0.0.1.
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (pythonpath, ROOT) if p is not None)
    return env


def _pinned(core: int | None) -> Callable[[], None] | None:
    if core is None:
        return None
    return lambda: os.sched_setaffinity(0, {core})


@attrs.define
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    @classmethod
    def start(
        cls,
        name: str,
        port: int,
        argv: list[str],
        core: int | None,
        pythonpath: Path | None = None,
    ) -> Server:
        log = (OUT / f"{name}.log").open("wb")
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=_child_env(pythonpath),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_pinned(core),  # safe: this script starts no threads
        )
        return cls(name, port, process, log)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def _ready(server: Server, scenario: Scenario, timeout: float = 30.0) -> None:
    """Wait until one real request through `server` succeeds."""
    body = orjson.dumps(scenario.body)
    headers = {"authorization": f"Bearer {MASTER_KEY}", "content-type": "application/json"}
    deadline = time.monotonic() + timeout
    problem = ""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            connection.request("POST", scenario.path, body, headers)
            response = connection.getresponse()
            response.read()
            connection.close()
            if response.status == 200:
                return
            problem = f"status {response.status}"
        except OSError as exc:
            problem = str(exc)
        time.sleep(0.2)
    raise SystemExit(
        f"{server.name} did not answer on port {server.port} ({problem}); "
        f"see {OUT / (server.name + '.log')}"
    )


# -- measuring ---------------------------------------------------------------------------


@attrs.define
class Bench:
    quick: bool
    duration: float
    gateway_core: int | None
    load_core: int | None
    upstream: Server
    targets: dict[str, Server]

    def measure(self, scenario: Scenario, target: str, requests: int | None = None) -> Measurement:
        server = self.targets[target]
        requests = requests or scenario.requests[1 if self.quick else 0]
        # Every connection gets at least one warm-up request, so every pool is filled.
        warmup = max(scenario.connections, requests // 10)
        argv = [
            sys.executable,
            "-m",
            "benchmarks.load",
            f"--port={server.port}",
            f"--scenario={scenario.name}",
            f"--requests={requests}",
            f"--warmup={warmup}",
            f"--duration={self.duration}",
            f"--stream-events={STREAM_EVENTS_BY_TARGET.get(target, STREAM_EVENTS)}",
        ]
        load = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=_child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            preexec_fn=_pinned(self.load_core),
        )
        assert load.stdin is not None and load.stdout is not None
        try:
            ready = orjson.loads(load.stdout.readline() or b"{}")
            if not ready.get("ready"):
                raise SystemExit(f"the load generator failed against {target}")
            measured = target != "direct"
            core = self.gateway_core
            reset_peak_rss(server.process.pid)
            gateway_before = cpu_seconds(server.process.pid) if measured else 0.0
            load_before = cpu_seconds(load.pid) + cpu_seconds(self.upstream.process.pid)
            busy_before = core_busy_seconds(core) if core is not None else 0.0
            load.stdin.write(b"go\n")
            load.stdin.flush()
            result = orjson.loads(load.stdout.readline() or b"{}")
            gateway_after = cpu_seconds(server.process.pid) if measured else 0.0
            load_after = cpu_seconds(load.pid) + cpu_seconds(self.upstream.process.pid)
            busy_after = core_busy_seconds(core) if core is not None else 0.0
        finally:
            load.stdin.close()
            try:
                load.wait(30)
            except subprocess.TimeoutExpired:
                load.kill()
                load.wait()
        if "ok" not in result:
            raise SystemExit(f"the load generator failed against {target}")
        return Measurement(
            scenario=scenario.name,
            target=target,
            ok=result["ok"],
            errors=result["errors"] + ready.get("warmup_errors", 0),
            first_error=result["first_error"],
            wall=result["wall"],
            p50_ms=None if result["p50"] is None else result["p50"] * 1000,
            p99_ms=None if result["p99"] is None else result["p99"] * 1000,
            gateway_cpu=gateway_after - gateway_before if measured else None,
            load_cpu=load_after - load_before,
            noise=busy_after - busy_before - (gateway_after - gateway_before),
            rss_mib=peak_rss_mib(server.process.pid) if measured else None,
        )


# -- main --------------------------------------------------------------------------------


def _cores(args: argparse.Namespace) -> None:
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        print("warning: fewer than 2 CPUs; nothing is pinned", file=sys.stderr)
        args.gateway_core = args.load_core = None
        return
    if args.gateway_core is None:
        args.gateway_core = available[0]
    if args.load_core is None:
        args.load_core = next(c for c in available if c != args.gateway_core)


def start_servers(args: argparse.Namespace, scenarios: list[Scenario]) -> dict[str, Server]:
    """The fake upstream (as `direct`) and every target the run measures, in run order."""
    python = sys.executable
    up_port = _free_port()
    upstream_url = f"http://127.0.0.1:{up_port}"
    upstream = Server.start(
        "upstream",
        up_port,
        [python, "-m", "benchmarks.upstream", f"--port={up_port}"],
        args.load_core,
    )
    targets = {"direct": upstream}
    try:
        clients = (
            () if args.anthropic_only else ("aiohttp",) if args.skip_httpx else ("httpx", FLOOR)
        )
        for client in clients:
            port = _free_port()
            argv = [python, "-m", "benchmarks.proxies", client, f"--port={port}"]
            targets[client] = Server.start(
                client, port, [*argv, f"--upstream={upstream_url}"], args.gateway_core
            )
        targets[LITEGATE] = _start_litegate(LITEGATE, upstream_url, args.gateway_core)
        if any(s.name in ANTHROPIC_SCENARIOS for s in scenarios):
            targets[ANTHROPIC] = _start_litegate(
                ANTHROPIC, upstream_url, args.gateway_core, provider="anthropic"
            )
        for chain in args.chain or ():
            name = chain_target(chain)
            targets[name] = _start_litegate(name, upstream_url, args.gateway_core, chain=chain)
        if args.compare:
            name = f"litegate@{args.compare}"
            code = _export_revision(args.compare)
            targets[name] = _start_litegate(name, upstream_url, args.gateway_core, code)
        for server in targets.values():
            _ready(server, SCENARIOS[0])
    except BaseException:
        for server in targets.values():
            server.stop()
        raise
    return targets


def chain_target(chain: Path) -> str:
    """The target name of a `--chain` file: ``chain:router`` for ``chains/router.toml``."""
    return f"{CHAIN_PREFIX}{chain.stem}"


def _measured_in(scenario: Scenario, target: str, anthropic_only: bool) -> bool:
    if target == ANTHROPIC:
        return scenario.name in ANTHROPIC_SCENARIOS
    return not anthropic_only or target == LITEGATE


def _start_litegate(
    name: str,
    upstream_url: str,
    core: int | None,
    code: Path | None = None,
    provider: str = "openai",
    chain: Path | None = None,
) -> Server:
    port = _free_port()
    config = OUT / f"{name}.toml"
    log = OUT / f"{name}-access.log"
    log.unlink(missing_ok=True)
    fields = {
        "port": port,
        "log": log,
        "db": OUT / f"{name}.db",
        "key": MASTER_KEY,
        "upstream": upstream_url,
        "chat": CHAT_DEPLOYMENTS[provider].format(upstream=upstream_url),
    }
    text = LITEGATE_CONFIG.format(**fields) if chain is None else chain_config(chain, name, fields)
    config.write_text(text)
    if chain is not None:
        chain_setup(chain, config)
    argv = [sys.executable, "-m", "litegate.cli", "serve", f"--config={config}"]
    return Server.start(name, port, argv, core, pythonpath=code)


def chain_config(chain: Path, name: str, fields: dict[str, object]) -> str:
    """The config of a `--chain` target: the file's ``[[pipeline]]`` (and optional ``[state]``
    and ``[[models]]``) with its placeholders filled in, after the benchmark's ``[server]``.

    Placeholders (plain text, so TOML's own braces need no escaping): ``{upstream}`` the fake
    upstream's root URL (OpenAI paths under ``{upstream}/v1``), ``{key}`` the key the load
    generator sends, ``{out}`` a scratch directory of this target's own.
    """
    scratch = OUT / f"{name}-data"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    text = chain.read_text()
    for placeholder, value in (
        ("{upstream}", fields["upstream"]),
        ("{key}", fields["key"]),
        ("{out}", scratch),
    ):
        text = text.replace(placeholder, str(value))
    parts = [SERVER_CONFIG.format(**fields)]
    if "[state]" not in text:
        parts.append(STATE_CONFIG.format(**fields))
    parts.append(text)
    if "[[models]]" not in text:
        parts.append(MODELS_CONFIG.format(**fields))
    return "\n".join(parts)


#: A chain file's set-up steps: ``# setup: keys create --name bench --secret-stdin`` runs
#: ``litegate keys create ... --config=<the target's config>`` before the server starts, with
#: the load generator's key on stdin (so a chain can authenticate with a virtual key).
SETUP_LINE = "# setup:"


def chain_setup(chain: Path, config: Path) -> None:
    for line in chain.read_text().splitlines():
        if not line.startswith(SETUP_LINE):
            continue
        argv = [sys.executable, "-m", "litegate.cli", *shlex.split(line[len(SETUP_LINE) :])]
        done = subprocess.run(
            [*argv, f"--config={config}"],
            cwd=ROOT,
            env=_child_env(),
            input=(MASTER_KEY + "\n").encode(),
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"{chain}: `{line}` failed: {done.stderr.decode().strip()}")


def _export_revision(revision: str) -> Path:
    """core/ and plugins/ at `revision`, laid out as the `litegate` package, for PYTHONPATH
    (ahead of the editable install; entry points name modules, so they resolve there)."""
    target = OUT / f"rev-{revision}"
    package = target / "litegate"
    if target.exists():
        shutil.rmtree(target)
    package.mkdir(parents=True)
    for folder, into in (("core", package), ("plugins", package / "plugins")):
        into.mkdir(exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", revision, folder], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(
            ["tar", "-x", "--strip-components=1", "-C", str(into)], input=archive, check=True
        )
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (about 2 min)")
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs per cell (default 3; 1 quick)"
    )
    parser.add_argument("--duration", type=float, default=None, help="max seconds per run")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[s.name for s in ALL_SCENARIOS] + ["anthropic"],
        help="only these (repeatable); 'anthropic': only litegate with an anthropic deployment "
        f"against litegate with an openai one, in {' and '.join(ANTHROPIC_SCENARIOS)}",
    )
    parser.add_argument(
        "--skip-httpx", action="store_true", help="leave out the slowest target (for quick checks)"
    )
    parser.add_argument(
        "--compare", metavar="REV", help="also measure litegate as of this git revision"
    )
    parser.add_argument(
        "--chain",
        action="append",
        type=Path,
        metavar="FILE",
        help="also measure litegate with this chain (benchmarks/chains/*.toml; repeatable)",
    )
    parser.add_argument("--gateway-core", type=int)
    parser.add_argument("--load-core", type=int)
    parser.add_argument("--output", type=Path, help="default benchmarks/RESULTS.md (full runs)")
    args = parser.parse_args()
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.duration is None:
        args.duration = 4.0 if args.quick else 10.0
    chosen = set(args.scenario or ())
    args.anthropic_only = chosen == {"anthropic"}
    if "anthropic" in chosen:
        chosen.update(ANTHROPIC_SCENARIOS)
    scenarios = [s for s in ALL_SCENARIOS if s.name in chosen or (not chosen and s in SCENARIOS)]
    if args.output is None:
        # Only a complete full run replaces the committed table.
        partial = args.quick or args.skip_httpx or args.compare or args.anthropic_only or args.chain
        partial = partial or len(scenarios) < len(SCENARIOS)
        args.output = OUT / "RESULTS-partial.md" if partial else HERE / "RESULTS.md"
    _cores(args)
    if args.load_core is not None:
        os.sched_setaffinity(0, {args.load_core})
    OUT.mkdir(exist_ok=True)
    started = time.monotonic()

    targets = start_servers(args, scenarios)
    bench = Bench(
        args.quick, args.duration, args.gateway_core, args.load_core, targets["direct"], targets
    )
    runs: dict[tuple[str, str], list[Measurement]] = {}
    try:
        # A fresh process is slower for its first thousands of requests (the collector
        # sorting out start-up objects, pools filling, memory being mapped): get every server
        # past that before measuring anything, so no target pays for going first.
        for target in targets:
            if target != "direct":
                bench.measure(WARMUP, target, requests=3000)
        for scenario in scenarios:
            for _ in range(args.repeat):
                # Targets interleaved, so each ratio compares runs minutes apart at most.
                for target in targets:
                    if not _measured_in(scenario, target, args.anthropic_only):
                        continue
                    result = bench.measure(scenario, target)
                    runs.setdefault((scenario.name, target), []).append(result)
                    print(
                        f"{scenario.name:>10} {target:>18}: {result.rps:7.0f} req/s, "
                        f"p50 {_ms(result.p50_ms)} ms, CPU {_ms(result.cpu_per_1000)} s/1000, "
                        f"errors {result.errors}",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        for server in targets.values():
            server.stop()

    command = "python -m benchmarks.run " + " ".join(sys.argv[1:])
    setup = describe_setup(
        command.strip(),
        time.monotonic() - started,
        args.gateway_core,
        args.load_core,
        args.repeat,
    )
    report = render(runs, scenarios, setup)
    args.output.write_text(report)
    print(report)
    print(f"written to {args.output}", file=sys.stderr)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    main()
