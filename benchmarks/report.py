"""Measurements, their medians over repeats, and the Markdown report with the verdicts."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import attrs

from .load import Scenario

FLOOR = "aiohttp"
#: litegate with an `openai` deployment (the passthrough) and with an `anthropic` one.
LITEGATE = "litegate"
ANTHROPIC = "litegate-anthropic"
#: `--chain` targets are named ``chain:<file stem>``.
CHAIN_PREFIX = "chain:"
#: The scenarios `ANTHROPIC` runs in, right after `LITEGATE`.
ANTHROPIC_SCENARIOS = ("chat-64", "stream-16")

# The done-when criteria.
MAX_CPU_RATIO = 1.5
MIN_SLOW_THROUGHPUT_RATIO = 0.8
MAX_P50_OVERHEAD_MS = 1.0
#: The providers issue's: translation costs at most this much CPU per request over the
#: OpenAI passthrough.
MAX_TRANSLATION_RATIO = 1.3


@attrs.frozen
class ChainTarget:
    """An issue's figure for a plugin chain: `chain`'s CPU per request ÷ `baseline`'s in
    `scenario`, at most `limit` (below it, when `strict`)."""

    issue: str
    chain: str
    scenario: str
    baseline: str
    limit: float
    strict: bool = False

    def met(self, ratio: float) -> bool:
        return ratio < self.limit if self.strict else ratio <= self.limit


_CORE_SCENARIOS = ("chat-1", "chat-64", "stream-16")
#: The chains' figures the issues name, checked whenever a run has their cells.
CHAIN_TARGETS = (
    *(ChainTarget("6", "chain:spend-core", s, FLOOR, 2.0) for s in _CORE_SCENARIOS),
    *(ChainTarget("7", "chain:cache-hit", s, FLOOR, 1.0, strict=True) for s in _CORE_SCENARIOS),
    ChainTarget("7", "chain:pii", "chat-2k", LITEGATE, 1.25),
    ChainTarget("7", "chain:pii", "chat-2k-fresh", LITEGATE, 1.25),
)


@attrs.define
class Measurement:
    """One measured run of one scenario against one target."""

    scenario: str
    target: str
    ok: int
    errors: int
    first_error: str | None
    wall: float
    p50_ms: float | None
    p99_ms: float | None
    #: CPU seconds of the server under test (None for `direct`: nothing is in between).
    gateway_cpu: float | None
    #: CPU seconds of the load generator plus the fake upstream.
    load_cpu: float
    #: Seconds the gateway's core spent on anything but the gateway (other processes, the
    #: hypervisor's other guests): the noise in this run.
    noise: float
    rss_mib: float | None

    @property
    def rps(self) -> float:
        return self.ok / self.wall if self.wall else 0.0

    @property
    def cpu_per_1000(self) -> float | None:
        if self.gateway_cpu is None or not self.ok:
            return None
        return self.gateway_cpu / (self.ok + self.errors) * 1000


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


@attrs.define
class Row:
    """One target in one scenario: the median of each figure over repeats (errors summed)."""

    scenario: str
    target: str
    ok: int
    errors: int
    first_error: str | None
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    cpu_per_1000: float | None
    gateway_core_pct: float | None
    load_core_pct: float
    noise_pct: float
    rss_mib: float | None

    @classmethod
    def of(cls, runs: list[Measurement]) -> Row:
        return cls(
            scenario=runs[0].scenario,
            target=runs[0].target,
            ok=sum(r.ok for r in runs),
            errors=sum(r.errors for r in runs),
            first_error=next((r.first_error for r in runs if r.first_error), None),
            rps=statistics.median(r.rps for r in runs),
            p50_ms=_median([r.p50_ms for r in runs]),
            p99_ms=_median([r.p99_ms for r in runs]),
            cpu_per_1000=_median([r.cpu_per_1000 for r in runs]),
            gateway_core_pct=_median(
                [None if r.gateway_cpu is None else 100 * r.gateway_cpu / r.wall for r in runs]
            ),
            load_core_pct=statistics.median(100 * r.load_cpu / r.wall for r in runs),
            # Tick rounding can make a quiet core's noise come out slightly negative.
            noise_pct=max(0.0, statistics.median(100 * r.noise / r.wall for r in runs)),
            rss_mib=_median([r.rss_mib for r in runs]),
        )


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


Runs = dict[tuple[str, str], list[Measurement]]


def _paired(runs: Runs, scenario: str, target: str, figure: str) -> float | None:
    """The median over repeats of a figure comparing `target` with the floor or `direct` in
    the same repeat: a repeat's runs are back to back, so each pair saw the same machine."""
    values = []
    for ours, floor, direct in zip(
        runs[scenario, target], runs[scenario, FLOOR], runs[scenario, "direct"], strict=True
    ):
        if figure == "cpu":
            values.append(_ratio(ours.cpu_per_1000, floor.cpu_per_1000))
        elif figure == "rps":
            values.append(_ratio(ours.rps, floor.rps))
        else:  # "overhead": the latency a hop through `target` adds
            values.append(_diff(ours.p50_ms, direct.p50_ms))
    return _median(values)


def render(runs: Runs, scenarios: Sequence[Scenario], setup: str) -> str:
    lines = [
        "# litegate benchmark results",
        "",
        setup + " How to read this: [README.md](README.md).",
    ]
    core = [s for s in scenarios if (s.name, FLOOR) in runs]
    if core:
        lines += _core_section(runs, core)
    anthropic = [s for s in scenarios if (s.name, ANTHROPIC) in runs]
    if anthropic:
        lines += _anthropic_section(runs, anthropic)
    chains = [t for t in dict.fromkeys(t for _s, t in runs) if t.startswith(CHAIN_PREFIX)]
    if chains:
        lines += _chain_section(runs, scenarios, chains)
    failed = [r for r in map(Row.of, runs.values()) if r.errors]
    if failed:
        lines += ["", "Errors seen:", ""]
        lines += [
            f"- {r.scenario} / {r.target}: {r.errors}, first: `{r.first_error}`" for r in failed
        ]
    return "\n".join(lines) + "\n"


def _core_section(runs: Runs, scenarios: Sequence[Scenario]) -> list[str]:
    rows = {key: Row.of(value) for key, value in runs.items()}
    lines = [
        "",
        "| scenario | target | ok / errors | req/s | p50 ms | p99 ms | p50 - direct ms "
        "| CPU-s / 1000 req | CPU ÷ aiohttp | gateway core % | load core % | noise % "
        "| peak RSS MiB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    # In run order; the Anthropic deployment has its own section.
    targets = [t for t in dict.fromkeys(target for _scenario, target in rows) if t != ANTHROPIC]
    for scenario in scenarios:
        for target in targets:
            row = rows[scenario.name, target]
            overhead = cpu_ratio = None
            if target != "direct":
                overhead = _paired(runs, scenario.name, target, "overhead")
                cpu_ratio = _paired(runs, scenario.name, target, "cpu")
            lines.append(
                f"| {scenario.name} | {target} | {row.ok} / {row.errors} | {row.rps:.0f} "
                f"| {_fmt(row.p50_ms)} | {_fmt(row.p99_ms)} | {_fmt(overhead)} "
                f"| {_fmt(row.cpu_per_1000)} | {_fmt(cpu_ratio)} "
                f"| {_fmt(row.gateway_core_pct, 0)} | {row.load_core_pct:.0f} "
                f"| {row.noise_pct:.0f} | {_fmt(row.rss_mib, 0)} |"
            )
    lines += ["", "Scenarios:", ""]
    lines += [f"- `{s.name}`: {s.description}." for s in scenarios]
    lines += [
        "",
        "## litegate ÷ aiohttp floor (same run, median of per-repeat ratios)",
        "",
        "| scenario | CPU per request | req/s | p50 - direct ms: litegate / aiohttp |",
        "|---|---:|---:|---:|",
    ]
    for name in (s.name for s in scenarios):
        lines.append(
            f"| {name} | {_fmt(_paired(runs, name, LITEGATE, 'cpu'))} "
            f"| {_fmt(_paired(runs, name, LITEGATE, 'rps'))} "
            f"| {_fmt(_paired(runs, name, LITEGATE, 'overhead'))} / "
            f"{_fmt(_paired(runs, name, FLOOR, 'overhead'))} |"
        )
    lines += ["", "## Done-when criteria", ""]
    lines += [f"- {'PASS' if ok else 'FAIL'}: {text}" for ok, text in criteria(runs, scenarios)]
    return lines


def criteria(runs: Runs, scenarios: Sequence[Scenario]) -> list[tuple[bool, str]]:
    found = []
    names = {s.name for s in scenarios}
    for name in (s.name for s in scenarios):
        ratio = _paired(runs, name, LITEGATE, "cpu")
        found.append(
            (
                ratio is not None and ratio <= MAX_CPU_RATIO,
                f"{name}: litegate CPU per request is {_fmt(ratio)}x the aiohttp floor's "
                f"(at most {MAX_CPU_RATIO}x)",
            )
        )
    if "slow-256" in names:
        slow = Row.of(runs["slow-256", LITEGATE])
        ratio = _paired(runs, "slow-256", LITEGATE, "rps")
        found.append(
            (
                slow.errors == 0 and ratio is not None and ratio >= MIN_SLOW_THROUGHPUT_RATIO,
                f"slow-256: {slow.ok} calls, {slow.errors} errors, throughput {_fmt(ratio)}x "
                f"the floor's (all succeed, at least {MIN_SLOW_THROUGHPUT_RATIO}x)",
            )
        )
    if "chat-1" in names:
        overhead = _paired(runs, "chat-1", LITEGATE, "overhead")
        floor = _paired(runs, "chat-1", FLOOR, "overhead")
        found.append(
            (
                overhead is not None and overhead < MAX_P50_OVERHEAD_MS,
                f"chat-1: litegate p50 latency overhead vs direct is {_fmt(overhead)} ms "
                f"(under {MAX_P50_OVERHEAD_MS} ms; the aiohttp floor's own: {_fmt(floor)} ms)",
            )
        )
    return found


# -- the Anthropic deployment ----------------------------------------------------------------


@attrs.frozen
class Translation:
    """`ANTHROPIC` against `LITEGATE` in one scenario, from back-to-back pairs of runs."""

    scenario: str
    #: CPU per request, anthropic ÷ openai: the median of the per-repeat ratios, and their range.
    ratio: float | None
    low: float | None
    high: float | None
    #: The median per-repeat difference in CPU per request, microseconds.
    extra_us: float | None
    errors: int

    @classmethod
    def of(cls, runs: Runs, scenario: str) -> Translation:
        pairs = list(zip(runs[scenario, LITEGATE], runs[scenario, ANTHROPIC], strict=True))
        ratios = _per_repeat(runs, scenario, ANTHROPIC, LITEGATE)
        extra = [
            1000 * d
            for d in (_diff(a.cpu_per_1000, o.cpu_per_1000) for o, a in pairs)
            if d is not None
        ]
        return cls(
            scenario=scenario,
            ratio=_median(ratios),
            low=min(ratios, default=None),
            high=max(ratios, default=None),
            extra_us=_median(extra),
            errors=sum(o.errors + a.errors for o, a in pairs),
        )

    @property
    def passed(self) -> bool:
        return self.errors == 0 and self.ratio is not None and self.ratio <= MAX_TRANSLATION_RATIO


def _anthropic_section(runs: Runs, scenarios: Sequence[Scenario]) -> list[str]:
    lines = [
        "",
        "## Anthropic deployment ÷ OpenAI passthrough",
        "",
        f"`{ANTHROPIC}` is `{LITEGATE}` (same chain, same requests) with `bench` served by an "
        "`anthropic` deployment: the fake upstream answers `POST /v1/messages` as Anthropic "
        "does, and litegate translates requests, Messages and event streams both ways. Its "
        f"runs follow `{LITEGATE}`'s, back to back, in every repeat.",
        "",
        "| scenario | deployment | ok / errors | req/s | p50 ms | p99 ms | CPU-s / 1000 req "
        "| gateway core % | load core % | noise % | peak RSS MiB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scenario in scenarios:
        for target, provider in ((LITEGATE, "openai"), (ANTHROPIC, "anthropic")):
            row = Row.of(runs[scenario.name, target])
            lines.append(
                f"| {scenario.name} | {provider} (`{target}`) | {row.ok} / {row.errors} "
                f"| {row.rps:.0f} | {_fmt(row.p50_ms)} | {_fmt(row.p99_ms)} "
                f"| {_fmt(row.cpu_per_1000)} | {_fmt(row.gateway_core_pct, 0)} "
                f"| {row.load_core_pct:.0f} | {row.noise_pct:.0f} | {_fmt(row.rss_mib, 0)} |"
            )
    found = [Translation.of(runs, s.name) for s in scenarios]
    lines += [
        "",
        "| scenario | CPU per request, anthropic ÷ openai | range over repeats "
        "| extra CPU µs / request |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {t.scenario} | {_fmt(t.ratio)} | {_fmt(t.low)}-{_fmt(t.high)} | {_fmt(t.extra_us, 0)} |"
        for t in found
    ]
    lines += ["", "Done-when (providers issue): translation stays off the hot path's budget.", ""]
    lines += [
        f"- {'PASS' if t.passed else 'FAIL'}: {t.scenario}: CPU per request with the anthropic "
        f"deployment is {_fmt(t.ratio)}x the openai passthrough's (at most "
        f"{MAX_TRANSLATION_RATIO}x){f'; {t.errors} errors' if t.errors else ''}"
        for t in found
    ]
    return lines


# -- plugin chains (--chain) -----------------------------------------------------------------


def _versus(runs: Runs, scenario: str, target: str, baseline: str) -> float | None:
    """CPU per request of `target` ÷ `baseline`: the median of the per-repeat ratios."""
    return _median(_per_repeat(runs, scenario, target, baseline))


def _per_repeat(runs: Runs, scenario: str, target: str, baseline: str) -> list[float]:
    """CPU per request of `target` ÷ `baseline` in each repeat (its runs are back to back)."""
    pairs = zip(runs[scenario, target], runs[scenario, baseline], strict=True)
    found = (_ratio(ours.cpu_per_1000, base.cpu_per_1000) for ours, base in pairs)
    return [ratio for ratio in found if ratio is not None]


def chain_criteria(runs: Runs) -> list[tuple[bool, str]]:
    """The verdict on each of `CHAIN_TARGETS` this run measured, with the per-repeat range:
    on a shared host one repeat's ratio can land on either side of a line the median clears."""
    found = []
    for target in CHAIN_TARGETS:
        keys = ((target.scenario, target.chain), (target.scenario, target.baseline))
        if not all(key in runs for key in keys):
            continue
        ratios = _per_repeat(runs, target.scenario, target.chain, target.baseline)
        errors = sum(r.errors for r in runs[target.scenario, target.chain])
        ratio = _median(ratios)
        spread = f"; repeats {min(ratios):.2f}-{max(ratios):.2f}" if len(ratios) > 1 else ""
        found.append(
            (
                ratio is not None and errors == 0 and target.met(ratio),
                f"issue {target.issue}: {target.scenario}: `{target.chain}` CPU per request is "
                f"{_fmt(ratio)}x `{target.baseline}`'s ({'under' if target.strict else 'at most'} "
                f"{target.limit}x{spread}){f'; {errors} errors' if errors else ''}",
            )
        )
    return found


def _chain_section(runs: Runs, scenarios: Sequence[Scenario], chains: list[str]) -> list[str]:
    lines = [
        "",
        "## Plugin chains (`--chain`)",
        "",
        f"Each `{CHAIN_PREFIX}NAME` target is litegate serving `benchmarks/chains/NAME.toml`; "
        f"`{LITEGATE}` is the default chain (auth with a master key, logging to a file), "
        f"`{FLOOR}` the bare passthrough. Ratios are medians of per-repeat ratios.",
        "",
        f"| scenario | chain | ok / errors | CPU-s / 1000 req | CPU ÷ {LITEGATE} | CPU ÷ {FLOOR} "
        "| p50 ms |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for scenario in scenarios:
        for chain in chains:
            if (scenario.name, chain) not in runs:
                continue
            row = Row.of(runs[scenario.name, chain])
            vs_litegate = vs_floor = None
            if (scenario.name, LITEGATE) in runs:
                vs_litegate = _versus(runs, scenario.name, chain, LITEGATE)
            if (scenario.name, FLOOR) in runs:
                vs_floor = _versus(runs, scenario.name, chain, FLOOR)
            lines.append(
                f"| {scenario.name} | `{chain}` | {row.ok} / {row.errors} "
                f"| {_fmt(row.cpu_per_1000)} | {_fmt(vs_litegate)} | {_fmt(vs_floor)} "
                f"| {_fmt(row.p50_ms)} |"
            )
    verdicts = chain_criteria(runs)
    if verdicts:
        lines += ["", "Done-when (the chains' issues):", ""]
        lines += [f"- {'PASS' if ok else 'FAIL'}: {text}" for ok, text in verdicts]
    return lines


def describe_setup(
    command: str, seconds: float, gateway_core: int | None, load_core: int | None, repeat: int
) -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    root = Path(__file__).resolve().parent.parent
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
    ).stdout.strip()
    pinning = (
        f"Gateway pinned to CPU {gateway_core}, load generator + fake upstream to CPU {load_core}"
        if gateway_core is not None
        else "Nothing pinned (fewer than 2 CPUs)"
    )
    return (
        f"Written by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {seconds:.0f} s "
        f"({os.cpu_count()} x {model}, Python {platform.python_version()}, litegate "
        f"{commit or '?'}). {pinning}; {repeat} run(s) per cell, interleaved, medians shown."
    )
