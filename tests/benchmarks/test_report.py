"""The benchmark report's verdicts on the plugin chains' figures (issues 6 and 7)."""

from __future__ import annotations

from benchmarks.load import ALL_SCENARIOS
from benchmarks.report import (
    CHAIN_TARGETS,
    Measurement,
    Runs,
    Translation,
    chain_criteria,
    render,
)


def _run(scenario: str, target: str, cpu_per_request: float, errors: int = 0) -> Measurement:
    return Measurement(
        scenario=scenario,
        target=target,
        ok=1000 - errors,
        errors=errors,
        first_error="HTTP 500" if errors else None,
        wall=1.0,
        p50_ms=1.0,
        p99_ms=2.0,
        gateway_cpu=cpu_per_request * 1000,
        load_cpu=0.5,
        noise=0.0,
        rss_mib=60.0,
    )


def _runs(scenario: str, chain: str, base: str, ratios: list[float], errors: int = 0) -> Runs:
    return {
        (scenario, chain): [_run(scenario, chain, r, errors) for r in ratios],
        (scenario, base): [_run(scenario, base, 1.0) for _ in ratios],
    }


def test_the_pii_chain_passes_at_the_line_and_fails_past_it_with_the_repeats_range():
    (verdict,) = chain_criteria(_runs("chat-2k-fresh", "chain:pii", "litegate", [1.1, 1.25, 1.4]))
    assert verdict[0] is True
    assert "chat-2k-fresh: `chain:pii` CPU per request is 1.25x `litegate`'s" in verdict[1]
    assert "at most 1.25x; repeats 1.10-1.40" in verdict[1]
    (verdict,) = chain_criteria(_runs("chat-2k-fresh", "chain:pii", "litegate", [1.2, 1.3, 1.3]))
    assert verdict[0] is False


def test_a_cache_hit_must_cost_less_than_the_floor_and_errors_fail_a_chain():
    (at_floor,) = chain_criteria(_runs("chat-1", "chain:cache-hit", "aiohttp", [1.0]))
    assert at_floor[0] is False and "under 1.0x" in at_floor[1]
    (below,) = chain_criteria(_runs("chat-1", "chain:cache-hit", "aiohttp", [0.8]))
    assert below[0] is True
    (failing,) = chain_criteria(_runs("chat-1", "chain:cache-hit", "aiohttp", [0.8], errors=3))
    assert failing[0] is False and "3 errors" in failing[1]


def test_cells_a_run_did_not_measure_get_no_verdict():
    assert chain_criteria(_runs("chat-2k", "chain:router", "litegate", [1.0])) == []
    assert {(t.chain, t.scenario) for t in CHAIN_TARGETS} >= {
        ("chain:pii", "chat-2k"),
        ("chain:pii", "chat-2k-fresh"),
        ("chain:cache-hit", "chat-64"),
        ("chain:spend-core", "stream-16"),
    }


def test_the_report_states_the_chain_verdicts():
    runs = _runs("chat-2k", "chain:pii", "litegate", [1.05, 1.1])
    runs |= _runs("chat-2k", "aiohttp", "direct", [1.0, 1.0])
    scenarios = [s for s in ALL_SCENARIOS if s.name == "chat-2k"]
    report = render(runs, scenarios, "setup.")
    assert "Done-when (the chains' issues):" in report
    assert "- PASS: issue 7: chat-2k: `chain:pii`" in report


def test_the_anthropic_deployment_ratio_is_the_median_of_the_repeats_with_their_range():
    runs = _runs("chat-64", "litegate-anthropic", "litegate", [1.1, 1.3, 1.2])
    found = Translation.of(runs, "chat-64")
    assert (found.ratio, found.low, found.high) == (1.2, 1.1, 1.3)
    assert found.passed and round(found.extra_us) == 200_000
