"""Policy + ledger → Assessment: composition rules, statuses and findings, against closed forms."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from privaudit.accounting.accountant import Method, account
from privaudit.accounting.dp_events import NeighbouringRelation
from privaudit.assess import (
    Assessment,
    DatasetAssessment,
    Severity,
    Status,
    assess,
    broken_ledger_assessment,
)
from privaudit.errors import LedgerIntegrityError
from privaudit.ledger import Ledger, append_entry, read_ledger
from privaudit.mechanisms import DpSgd, Gaussian, Sampling
from privaudit.policy import Policy, parse_policy
from tests.accounting.oracles import gaussian_delta, gaussian_epsilon

PLD_TIGHTNESS = 0.005  # DESIGN.md: PLD within 0.5% of the exact value, never below it
DELTA = 1e-6


# --- helpers -------------------------------------------------------------------------------


def gaussian(sigma: float) -> dict[str, Any]:
    return {"type": "gaussian", "noise_multiplier": sigma}


def write_ledger(tmp_path: Path, *entries: dict[str, Any]) -> Ledger:
    """A ledger in tmp_path holding ``entries`` (keyword arguments of append_entry), read back."""
    path = tmp_path / "ledger.jsonl"
    for entry in entries:
        append_entry(path, **entry)
    return read_ledger(path)


def make_policy(tiers: dict[str, dict[str, Any]], datasets: dict[str, dict[str, Any]]) -> Policy:
    return parse_policy({"tiers": tiers, "datasets": datasets}, "<test policy>")


def one_tier_policy(*datasets: str, size: int = 10_000, **tier: Any) -> Policy:
    """A policy with tier ``t`` (ε cap 100 and δ = 1e-6 unless given) governing ``datasets``."""
    return make_policy(
        {"t": {"epsilon": 100.0, "delta": DELTA, **tier}},
        {name: {"tier": "t", "size": size} for name in datasets},
    )


def dataset(assessment: Assessment, name: str) -> DatasetAssessment:
    (found,) = [ds for ds in assessment.datasets if ds.dataset == name]
    return found


def codes(ds: DatasetAssessment) -> dict[str, Severity]:
    return {finding.code: finding.severity for finding in ds.findings}


def assert_tight(epsilon: float, exact: float) -> None:
    """A certified PLD bound: never below the exact value, at most 0.5% above it."""
    assert exact <= epsilon <= exact * (1 + PLD_TIGHTNESS) + 1e-4


def exact_gaussians(delta: float, *sigmas: float) -> float:
    """Exact ε of composed Gaussians: one Gaussian with μ² = Σ 1/σ² (Dong, Roth & Su 2019)."""
    return gaussian_epsilon(delta, math.sqrt(sum(1 / s**2 for s in sigmas)))


# --- composition -----------------------------------------------------------------------------


def test_partitions_compose_in_parallel_taking_the_maximum(tmp_path: Path) -> None:
    ledger = write_ledger(
        tmp_path,
        {"dataset": "silos", "partition": "a", "mechanism": gaussian(1.5)},
        {"dataset": "silos", "partition": "b", "mechanism": gaussian(3.0)},
        {"dataset": "silos", "partition": "b", "mechanism": gaussian(4.0)},
    )
    result = dataset(assess(ledger, one_tier_policy("silos")), "silos")

    epsilon_a = account([Gaussian(noise_multiplier=1.5)], DELTA).epsilon
    epsilon_b = account(
        [Gaussian(noise_multiplier=3.0), Gaussian(noise_multiplier=4.0)], DELTA
    ).epsilon
    assert result.epsilon == max(epsilon_a, epsilon_b)
    assert {p.partition: p.epsilon for p in result.partitions} == {"a": epsilon_a, "b": epsilon_b}
    # Parallel, not sequential: the three releases composed would cost more.
    assert result.epsilon < exact_gaussians(DELTA, 1.5, 3.0, 4.0)
    assert_tight(result.epsilon, exact_gaussians(DELTA, 1.5))


def test_an_entry_without_partition_touches_every_partition(tmp_path: Path) -> None:
    ledger = write_ledger(
        tmp_path,
        {"dataset": "silos", "partition": "a", "mechanism": gaussian(2.0)},
        {"dataset": "silos", "partition": "b", "mechanism": gaussian(3.0)},
        {"dataset": "silos", "mechanism": gaussian(2.5)},
    )
    result = dataset(assess(ledger, one_tier_policy("silos")), "silos")

    by_partition = {p.partition: p for p in result.partitions}
    assert set(by_partition) == {"a", "b"}
    assert by_partition["a"].entries == by_partition["b"].entries == 2
    assert_tight(by_partition["a"].epsilon, exact_gaussians(DELTA, 2.0, 2.5))
    assert_tight(by_partition["b"].epsilon, exact_gaussians(DELTA, 3.0, 2.5))
    assert result.epsilon == by_partition["a"].epsilon


def test_entries_of_one_partition_compose_sequentially(tmp_path: Path) -> None:
    ledger = write_ledger(
        tmp_path,
        {"dataset": "d", "partition": "p", "mechanism": gaussian(1.5)},
        {"dataset": "d", "partition": "p", "mechanism": gaussian(2.5)},
    )
    result = dataset(assess(ledger, one_tier_policy("d")), "d")
    assert_tight(result.epsilon, exact_gaussians(DELTA, 1.5, 2.5))


def test_entries_without_any_partition_compose_sequentially(tmp_path: Path) -> None:
    ledger = write_ledger(
        tmp_path,
        {"dataset": "d", "mechanism": gaussian(1.5)},
        {"dataset": "d", "mechanism": gaussian(2.5)},
    )
    result = dataset(assess(ledger, one_tier_policy("d")), "d")
    assert_tight(result.epsilon, exact_gaussians(DELTA, 1.5, 2.5))


def test_separate_datasets_are_accounted_separately(tmp_path: Path) -> None:
    ledger = write_ledger(
        tmp_path,
        {"dataset": "x", "mechanism": gaussian(1.0)},
        {"dataset": "y", "mechanism": gaussian(3.0)},
    )
    assessment = assess(ledger, one_tier_policy("x", "y"))
    assert_tight(dataset(assessment, "x").epsilon, exact_gaussians(DELTA, 1.0))
    assert_tight(dataset(assessment, "y").epsilon, exact_gaussians(DELTA, 3.0))
    assert dataset(assessment, "y").entries == 1


# --- status --------------------------------------------------------------------------------

SIGMA = 2.0
EXACT = exact_gaussians(DELTA, SIGMA)  # ≈ 2.25: the ε of one Gaussian release at δ = 1e-6


@pytest.mark.parametrize(
    ("used", "status"),
    [(0.7, Status.PASS), (0.85, Status.WARN), (0.98, Status.WARN), (1.05, Status.FAIL)],
)
def test_status_follows_the_fraction_of_the_cap_used(
    tmp_path: Path, used: float, status: Status
) -> None:
    # The cap is set so the exact ε uses `used` of it; PLD adds at most 0.5%.
    ledger = write_ledger(tmp_path, {"dataset": "d", "mechanism": gaussian(SIGMA)})
    policy = one_tier_policy("d", epsilon=EXACT / used, warn_at=0.8)
    result = dataset(assess(ledger, policy), "d")
    assert result.status is status
    assert result.used_fraction == pytest.approx(used, rel=PLD_TIGHTNESS)


@pytest.mark.parametrize(("cap_factor", "status"), [(2.0, Status.WARN), (1.0, Status.WARN)])
def test_warn_band_includes_both_of_its_ends(
    tmp_path: Path, cap_factor: float, status: Status
) -> None:
    # warn_at = 0.5 and a cap of exactly 2ε (or ε) put ε on the band's lower (or upper) edge.
    ledger = write_ledger(tmp_path, {"dataset": "d", "mechanism": gaussian(SIGMA)})
    epsilon = dataset(assess(ledger, one_tier_policy("d")), "d").epsilon
    policy = one_tier_policy("d", epsilon=epsilon * cap_factor, warn_at=0.5)
    assert dataset(assess(ledger, policy), "d").status is status


def test_declared_tolerance_lets_epsilon_above_the_cap_pass_the_gate(tmp_path: Path) -> None:
    ledger = write_ledger(tmp_path, {"dataset": "d", "mechanism": gaussian(SIGMA)})
    strict = dataset(assess(ledger, one_tier_policy("d", epsilon=EXACT / 1.05)), "d")
    tolerant = dataset(
        assess(ledger, one_tier_policy("d", epsilon=EXACT / 1.05, tolerance=0.1)), "d"
    )
    assert strict.status is Status.FAIL
    assert tolerant.status is Status.WARN
    assert tolerant.tolerance == 0.1
    assert tolerant.used_fraction is not None and tolerant.used_fraction > 1


def test_epsilon_beyond_the_declared_tolerance_fails(tmp_path: Path) -> None:
    ledger = write_ledger(tmp_path, {"dataset": "d", "mechanism": gaussian(SIGMA)})
    result = dataset(assess(ledger, one_tier_policy("d", epsilon=EXACT / 1.2, tolerance=0.1)), "d")
    assert result.status is Status.FAIL


@pytest.mark.parametrize(
    ("names", "status"),
    [
        (("p",), Status.PASS),
        (("p", "w"), Status.WARN),
        (("f", "p"), Status.FAIL),
        (("f", "p", "w"), Status.FAIL),
    ],
)
def test_assessment_status_is_the_worst_dataset_status(
    tmp_path: Path, names: tuple[str, ...], status: Status
) -> None:
    caps = {"p": EXACT / 0.5, "w": EXACT / 0.9, "f": EXACT / 1.1}
    ledger = write_ledger(
        tmp_path, *({"dataset": name, "mechanism": gaussian(SIGMA)} for name in names)
    )
    policy = make_policy(
        {name: {"epsilon": caps[name], "delta": DELTA} for name in names},
        {name: {"tier": name, "size": 10_000} for name in names},
    )
    assessment = assess(ledger, policy)
    expected = {"p": Status.PASS, "w": Status.WARN, "f": Status.FAIL}
    assert {ds.dataset: ds.status for ds in assessment.datasets} == {n: expected[n] for n in names}
    assert assessment.status is status
    assert assessment.exceeded is (status is Status.FAIL)


def test_a_policy_dataset_without_entries_has_epsilon_zero_and_passes(tmp_path: Path) -> None:
    ledger = read_ledger(tmp_path / "no-ledger-yet.jsonl", allow_missing=True)
    result = dataset(assess(ledger, one_tier_policy("unused")), "unused")
    assert result.entries == 0
    assert result.epsilon == 0.0
    assert result.used_fraction == 0.0
    assert result.status is Status.PASS
    assert result.findings == ()


def test_policy_datasets_without_entries_are_listed_beside_the_ledgers(tmp_path: Path) -> None:
    ledger = write_ledger(tmp_path, {"dataset": "used", "mechanism": gaussian(SIGMA)})
    assessment = assess(ledger, one_tier_policy("used", "unused"))
    assert [ds.dataset for ds in assessment.datasets] == ["unused", "used"]
    assert dataset(assessment, "unused").epsilon == 0.0


# --- δ -------------------------------------------------------------------------------------


def test_delta_override_is_used_for_every_dataset(tmp_path: Path) -> None:
    ledger = write_ledger(
        tmp_path,
        {"dataset": "a", "mechanism": gaussian(1.5)},
        {"dataset": "b", "mechanism": gaussian(3.0)},
    )
    policy = make_policy(
        {"loose": {"epsilon": 100.0, "delta": 1e-5}, "tight": {"epsilon": 100.0, "delta": 1e-6}},
        {"a": {"tier": "loose", "size": 10**6}, "b": {"tier": "tight", "size": 10**6}},
    )
    assessment = assess(ledger, policy, delta=1e-8)
    for name, sigma in (("a", 1.5), ("b", 3.0)):
        result = dataset(assessment, name)
        assert result.delta == 1e-8
        assert_tight(result.epsilon, exact_gaussians(1e-8, sigma))


def test_without_override_each_dataset_uses_its_tier_delta(tmp_path: Path) -> None:
    ledger = write_ledger(
        tmp_path,
        {"dataset": "a", "mechanism": gaussian(1.5)},
        {"dataset": "b", "mechanism": gaussian(1.5)},
    )
    policy = make_policy(
        {"loose": {"epsilon": 100.0, "delta": 1e-5}, "tight": {"epsilon": 100.0, "delta": 1e-7}},
        {"a": {"tier": "loose", "size": 10**6}, "b": {"tier": "tight", "size": 10**6}},
    )
    assessment = assess(ledger, policy)
    assert_tight(dataset(assessment, "a").epsilon, exact_gaussians(1e-5, 1.5))
    assert_tight(dataset(assessment, "b").epsilon, exact_gaussians(1e-7, 1.5))


@pytest.mark.parametrize(
    ("size", "delta", "flagged"),
    [(1000, 1e-3, True), (10, 0.2, True), (1000, 1e-4, False)],
)
def test_delta_not_below_one_over_n_fails(
    tmp_path: Path, size: int, delta: float, flagged: bool
) -> None:
    ledger = write_ledger(tmp_path, {"dataset": "d", "mechanism": gaussian(10.0)})
    result = dataset(assess(ledger, one_tier_policy("d", size=size, delta=delta)), "d")
    assert ("delta_too_large" in codes(result)) is flagged
    if flagged:
        assert codes(result)["delta_too_large"] is Severity.FAIL
        assert result.status is Status.FAIL
    else:
        assert result.status is Status.PASS


def test_a_delta_tighter_than_the_tier_is_stated_as_a_finding(tmp_path: Path) -> None:
    ledger = write_ledger(tmp_path, {"dataset": "d", "mechanism": gaussian(10.0)})
    result = dataset(assess(ledger, one_tier_policy("d"), delta=1e-8), "d")
    assert codes(result)["delta_tighter_than_policy"] is Severity.INFO
    assert result.status is Status.PASS


def test_a_delta_looser_than_the_tier_fails_the_dataset(tmp_path: Path) -> None:
    # The CLI refuses such a --delta (exit 2); through the Python API it cannot pass the gate.
    ledger = write_ledger(tmp_path, {"dataset": "d", "mechanism": gaussian(10.0)})
    result = dataset(assess(ledger, one_tier_policy("d"), delta=1e-5), "d")
    assert codes(result)["delta_looser_than_policy"] is Severity.FAIL
    assert result.status is Status.FAIL


def test_without_a_policy_the_assessment_says_none_was_given(tmp_path: Path) -> None:
    ledger = write_ledger(tmp_path, {"dataset": "d", "mechanism": gaussian(10.0)})
    assert assess(ledger).policy_given is False
    assert assess(ledger, one_tier_policy("d")).policy_given is True


def test_delta_override_is_checked_against_one_over_n(tmp_path: Path) -> None:
    ledger = write_ledger(tmp_path, {"dataset": "d", "mechanism": gaussian(10.0)})
    result = dataset(assess(ledger, one_tier_policy("d", size=1000), delta=0.01), "d")
    assert codes(result).get("delta_too_large") is Severity.FAIL


# --- findings ------------------------------------------------------------------------------


def test_entry_privacy_unit_differing_from_the_dataset_unit_fails(tmp_path: Path) -> None:
    ledger = write_ledger(
        tmp_path,
        {"dataset": "d", "privacy_unit": "example", "mechanism": gaussian(10.0)},
        {"dataset": "d", "privacy_unit": "user", "mechanism": gaussian(10.0)},
    )
    result = dataset(assess(ledger, one_tier_policy("d")), "d")
    assert codes(result) == {"privacy_unit_mismatch": Severity.FAIL}
    (finding,) = result.findings
    assert "'user'" in finding.message and "'example'" in finding.message
    assert result.status is Status.FAIL


def test_dataset_unit_differing_from_the_tier_unit_warns(tmp_path: Path) -> None:
    ledger = write_ledger(
        tmp_path, {"dataset": "d", "privacy_unit": "user", "mechanism": gaussian(10.0)}
    )
    policy = make_policy(
        {"t": {"epsilon": 100.0, "delta": DELTA, "privacy_unit": "example"}},
        {"d": {"tier": "t", "size": 10_000, "privacy_unit": "user"}},
    )
    result = dataset(assess(ledger, policy), "d")
    assert codes(result) == {"privacy_unit_differs_from_tier": Severity.WARN}
    assert result.privacy_unit == "user"
    assert result.status is Status.WARN


def test_shuffled_batches_are_accounted_without_amplification(tmp_path: Path) -> None:
    z, q, steps = 4.0, 0.1, 30  # three epochs
    run = DpSgd(noise_multiplier=z, sampling_rate=q, steps=steps, sampling=Sampling.SHUFFLE)
    ledger = write_ledger(tmp_path, {"dataset": "d", "mechanism": run})
    result = dataset(assess(ledger, one_tier_policy("d")), "d")

    assert_tight(result.epsilon, gaussian_epsilon(DELTA, math.sqrt(3) / z))
    assert codes(result) == {"shuffle_not_amplified": Severity.INFO}
    figures = [float(x) for x in re.findall(r"ε = ([0-9.]+)", result.findings[0].message)]
    poisson = account([run.as_poisson()], DELTA).epsilon
    assert len(figures) == 2
    assert figures[0] == pytest.approx(result.epsilon, rel=1e-3)
    assert figures[1] == pytest.approx(poisson, rel=1e-3)
    assert poisson < result.epsilon


def test_dataset_in_the_ledger_but_not_in_the_policy_fails(tmp_path: Path) -> None:
    ledger = write_ledger(
        tmp_path,
        {"dataset": "known", "mechanism": gaussian(10.0)},
        {"dataset": "ghost", "mechanism": gaussian(10.0)},
    )
    assessment = assess(ledger, one_tier_policy("known"))
    ghost = dataset(assessment, "ghost")
    assert codes(ghost) == {"dataset_not_in_policy": Severity.FAIL}
    assert ghost.limit_epsilon is None
    assert ghost.status is Status.FAIL
    assert dataset(assessment, "known").status is Status.PASS


def test_without_a_policy_nothing_is_judged_against_a_limit(tmp_path: Path) -> None:
    ledger = write_ledger(tmp_path, {"dataset": "d", "mechanism": gaussian(1.0)})
    result = dataset(assess(ledger), "d")
    assert result.limit_epsilon is None and result.used_fraction is None
    assert result.findings == ()
    assert result.status is Status.PASS


def test_gdp_tier_warns_and_the_verdict_uses_pld(tmp_path: Path) -> None:
    ledger = write_ledger(tmp_path, {"dataset": "d", "mechanism": gaussian(SIGMA)})
    result = dataset(assess(ledger, one_tier_policy("d", accountant="gdp")), "d")
    assert codes(result) == {"non_certified_accountant": Severity.WARN}
    assert result.method is Method.PLD
    assert result.epsilon == result.epsilon_pld
    assert_tight(result.epsilon, EXACT)
    assert result.status is Status.WARN


def test_rdp_tier_uses_the_rdp_bound(tmp_path: Path) -> None:
    ledger = write_ledger(tmp_path, {"dataset": "d", "mechanism": gaussian(SIGMA)})
    result = dataset(assess(ledger, one_tier_policy("d", accountant="rdp")), "d")
    assert result.method is Method.RDP
    assert result.epsilon == result.epsilon_rdp
    assert result.epsilon >= EXACT  # still a certified upper bound
    assert result.findings == ()


def test_a_run_above_the_per_run_cap_fails(tmp_path: Path) -> None:
    ledger = write_ledger(
        tmp_path,
        {"dataset": "d", "run": "big", "mechanism": gaussian(1.0)},
        {"dataset": "d", "run": "small", "mechanism": gaussian(5.0)},
        {"dataset": "d", "run": "small", "mechanism": gaussian(5.0)},
    )
    # Lifetime ε ≈ 5 is well inside the cap of 20; only run "big" (ε ≈ 4.9) exceeds 3.
    result = dataset(assess(ledger, one_tier_policy("d", epsilon=20.0, per_run_epsilon=3.0)), "d")
    assert codes(result) == {"per_run_limit_exceeded": Severity.FAIL}
    (finding,) = result.findings
    assert "'big'" in finding.message and "'small'" not in finding.message
    assert result.status is Status.FAIL


def test_runs_within_the_per_run_cap_pass(tmp_path: Path) -> None:
    ledger = write_ledger(
        tmp_path,
        {"dataset": "d", "run": "one", "mechanism": gaussian(5.0)},
        {"dataset": "d", "run": "two", "mechanism": gaussian(5.0)},
    )
    # Each run costs ≈ 0.83 < 1; together they cost more than 1, which the per-run cap ignores.
    assert exact_gaussians(DELTA, 5.0, 5.0) > 1.0
    result = dataset(assess(ledger, one_tier_policy("d", epsilon=20.0, per_run_epsilon=1.0)), "d")
    assert result.findings == ()
    assert result.status is Status.PASS


def test_a_non_private_entry_makes_epsilon_infinite_and_fails(tmp_path: Path) -> None:
    ledger = write_ledger(
        tmp_path,
        {"dataset": "d", "mechanism": gaussian(10.0)},
        {"dataset": "d", "mechanism": {"type": "non_private"}},
    )
    result = dataset(assess(ledger, one_tier_policy("d")), "d")
    assert math.isinf(result.epsilon)
    assert codes(result).get("unbounded") is Severity.FAIL
    assert result.status is Status.FAIL


def test_fixed_batch_is_stated_for_replace_one_with_an_rdp_verdict(tmp_path: Path) -> None:
    run = DpSgd(
        noise_multiplier=2.0,
        sampling_rate=0.01,
        steps=10,
        sampling=Sampling.FIXED_BATCH,
        dataset_size=10_000,
    )
    ledger = write_ledger(tmp_path, {"dataset": "d", "mechanism": run})
    result = dataset(assess(ledger, one_tier_policy("d")), "d")
    assert codes(result) == {
        "replace_one_relation": Severity.INFO,
        "accountant_fallback": Severity.INFO,
    }
    assert result.relation is NeighbouringRelation.REPLACE_ONE
    assert result.method is Method.RDP
    assert result.epsilon_pld is None
    assert result.epsilon == result.epsilon_rdp
    assert result.status is Status.PASS


# --- a broken ledger -------------------------------------------------------------------------


def test_broken_ledger_assessment_fails_with_a_chain_finding(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    for sigma in (1.0, 2.0, 3.0):
        append_entry(path, dataset="d", mechanism=gaussian(sigma))
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"noise_multiplier":2.0', b'"noise_multiplier":20.0')
    path.write_bytes(b"".join(lines))
    with pytest.raises(LedgerIntegrityError) as caught:
        read_ledger(path)

    assessment = broken_ledger_assessment(path, str(caught.value))
    assert assessment.status is Status.FAIL
    assert assessment.datasets == ()
    (finding,) = assessment.findings
    assert (finding.code, finding.severity) == ("ledger_chain_broken", Severity.FAIL)
    assert "line 2" in finding.message
    assert assessment.ledger is not None and assessment.ledger.path == str(path)


def test_delta_at_epsilon_is_the_maximum_over_partitions(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    append_entry(
        path, dataset="ds", partition="a", mechanism={"type": "gaussian", "noise_multiplier": 1.0}
    )
    append_entry(
        path, dataset="ds", partition="b", mechanism={"type": "gaussian", "noise_multiplier": 3.0}
    )
    [dataset] = assess(read_ledger(path), epsilon=0.5).datasets
    exact_a = gaussian_delta(0.5, 1.0)
    assert dataset.epsilon_query == 0.5
    assert dataset.delta_at_epsilon is not None
    assert exact_a <= dataset.delta_at_epsilon <= exact_a * 1.01
