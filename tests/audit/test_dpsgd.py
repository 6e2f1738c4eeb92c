"""One-run audits of DP-SGD: a correct trainer passes, planted bugs are caught."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from privaudit.audit.planted import PlantedBug
from privaudit.errors import InputError
from privaudit.mechanisms import Sampling, mechanism_to_json
from tests.audit.blobs import (
    DPSGD,
    FEDAVG,
    SIGMA_EPS2,
    Blobs,
    D,
    N,
    dpsgd_audit,
    dpsgd_claim,
    fedavg_claim,
)

# --- a correct trainer ---------------------------------------------------------------------------


def test_the_claim_is_eps_2(blobs: Blobs) -> None:
    assert 1.99 < dpsgd_claim(DPSGD) <= 2.0
    assert 1.99 < fedavg_claim(FEDAVG) <= 2.0


@pytest.mark.parametrize("method", ["one_run", "one_run_fdp"])
def test_correct_dpsgd_is_consistent_over_seeds(blobs: Blobs, method: str) -> None:
    records = [dpsgd_audit(blobs, seed=seed, method=method) for seed in range(10)]
    for record in records:
        assert record.verdict == "consistent", record.reasons
        assert record.reasons == () and record.planted_bug is None
        assert 0 <= record.epsilon_lower_bound < record.epsilon_claimed
        assert record.direct_checks.ok and record.direct_checks.contribution is not None
        assert record.test_accuracy is not None and record.test_accuracy > 0.9
    # The audit has power: on average it recovers a good part of the claimed ε.
    recovered = np.mean([r.epsilon_lower_bound / r.epsilon_claimed for r in records])
    assert recovered > (0.2 if method == "one_run" else 0.3)


def test_record_describes_the_run(blobs: Blobs) -> None:
    record = dpsgd_audit(blobs, data={"name": "blobs"})
    steps = DPSGD.planned_steps(N)
    assert record.kind == "audit" and record.target == "dpsgd" and record.steps == steps == 100
    assert record.mechanism == mechanism_to_json(DPSGD.mechanism(N, steps))
    assert record.data == {"train": N, "test": 500, "features": D, "name": "blobs"}
    assert record.config["sampling_rate"] == 0.1 and record.config["steps"] == steps
    assert record.canaries == 1000 and record.untouched == 200
    assert record.canary_gradient_norm == 10 * DPSGD.clip_norm
    assert record.guess_rule == "ceiling" and record.candidates == 1
    assert record.expected_lower_bound is None
    assert record.method_requested == "auto" and record.method == "one_run_fdp"
    assert record.method_reason is not None and "Gaussian" in record.method_reason
    assert record.ceiling is not None and record.ceiling > 0
    assert record.efficiency == pytest.approx(record.epsilon_lower_bound / record.ceiling)
    noise = record.direct_checks.noise_std
    assert noise.claimed == pytest.approx(SIGMA_EPS2) and noise.observations == 200 * steps
    sampling = record.direct_checks.sampling_rate
    assert sampling.claimed == 0.1 and sampling.trials % steps == 0
    assert record.confidence == 0.95 and record.seed == 0 and "numpy" in record.versions


def test_likelihood_ratio_score(blobs: Blobs) -> None:
    record = dpsgd_audit(blobs, score="likelihood_ratio", method="one_run_fdp")
    assert record.score == "likelihood_ratio" and record.verdict == "consistent"
    assert record.epsilon_lower_bound > 0


def test_the_default_audit_is_consistent_over_seeds_and_near_its_ceiling(blobs: Blobs) -> None:
    # The defaults (auto, likelihood ratio, the ceiling's guess count) with 50,000 canaries, a
    # smaller setting of benchmarks/audit.py's 20 MNIST seeds: never a false alarm, and the
    # lower bound near the ideal auditor's.
    records = [dpsgd_audit(blobs, seed=seed, canaries=50_000) for seed in range(10)]
    for record in records:
        assert record.verdict == "consistent", record.reasons
        assert record.method == "one_run_fdp" and record.efficiency is not None
    assert np.mean([r.efficiency for r in records]) > 0.85
    assert np.mean([r.epsilon_lower_bound / r.epsilon_claimed for r in records]) > 0.6


# --- planted bugs --------------------------------------------------------------------------------


@pytest.mark.usefixtures("allow_bugs")
@pytest.mark.parametrize("bug", list(PlantedBug))
def test_each_planted_bug_is_a_violation(blobs: Blobs, bug: PlantedBug) -> None:
    for method in ("one_run", "one_run_fdp"):
        record = dpsgd_audit(blobs, planted_bug=bug, method=method)
        assert record.verdict == "violation" and record.planted_bug == bug.value
        # Each breaks the claim by far: the bound alone exceeds the claimed ε = 2.
        assert record.epsilon_lower_bound > record.epsilon_claimed
        checks = record.direct_checks
        assert checks.noise_std.ok is (bug is not PlantedBug.NOISE_DIV_10)
        assert checks.sampling_rate.ok is (bug is not PlantedBug.SAMPLING_X4)
        assert checks.contribution is not None
        assert checks.contribution.ok is (bug is not PlantedBug.NO_CLIPPING)


@pytest.mark.usefixtures("allow_bugs")
def test_direct_checks_measure_the_planted_bugs(blobs: Blobs) -> None:
    noise = dpsgd_audit(blobs, planted_bug=PlantedBug.NOISE_DIV_10).direct_checks.noise_std
    assert noise.observed == pytest.approx(SIGMA_EPS2 / 10, rel=0.02) and noise.high < noise.claimed
    sampling = dpsgd_audit(blobs, planted_bug=PlantedBug.SAMPLING_X4).direct_checks.sampling_rate
    assert sampling.observed == pytest.approx(0.4, rel=0.05) and sampling.p_value < 1e-100
    contribution = dpsgd_audit(blobs, planted_bug=PlantedBug.NO_CLIPPING).direct_checks.contribution
    assert contribution is not None and contribution.low > 9 * contribution.claimed


@pytest.mark.usefixtures("allow_bugs")
def test_skipped_clipping_is_caught_where_the_bound_cannot_reach(blobs: Blobs) -> None:
    # Claimed ε = 8: with 1,000 canaries the one-run bound stays below it even for a trainer
    # that does not clip; the clipping check does not depend on ε.
    config = replace(DPSGD, noise_multiplier=0.936)  # ε = 8 at δ = 1e-5
    record = dpsgd_audit(blobs, config, planted_bug=PlantedBug.NO_CLIPPING)
    assert 7.9 < record.epsilon_claimed <= 8.0
    assert record.epsilon_lower_bound < record.epsilon_claimed
    assert record.verdict == "violation" and len(record.reasons) == 1
    assert "clip norm" in record.reasons[0]


# --- refused configurations ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"noise_multiplier": 0.0}, "noise_multiplier"),
        ({"sampling": Sampling.FIXED_BATCH}, "sampling"),
    ],
)
def test_refused_dpsgd_configurations(blobs: Blobs, changes: dict[str, Any], field: str) -> None:
    config = replace(DPSGD, **changes)
    with pytest.raises(InputError, match=field):
        dpsgd_audit(blobs, config, epsilon_claimed=2.0)
