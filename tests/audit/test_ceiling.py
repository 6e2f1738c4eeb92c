"""The ceiling of a one-run audit against an independent simulation of the ideal Gaussian
auditor, and the guess plan that maximises it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

from privaudit.audit.bounds import audit_from_scores
from privaudit.audit.ceiling import (
    expected_correct,
    gaussian_mu,
    ideal_bound,
    plan_for_ceiling,
)
from tests.accounting.oracles import gaussian_epsilon

DELTA = 1e-5
BETA = 0.05


def _ideal_auditor(m: int, mu: float, guesses: int, method: str, rng: np.random.Generator) -> float:
    """One ideal audit, simulated: canaries drawn from exactly G_μ (N(μ, 1) in, N(0, 1) out),
    scored by the observation itself and bounded by the production bound."""
    included = rng.random(m) < 0.5
    scores = rng.normal(mu * included, 1.0)
    return audit_from_scores(
        scores, included, delta=DELTA, beta=BETA, method=method, guess_counts=[guesses]
    ).epsilon_lower_bound


@pytest.mark.parametrize("epsilon", [1.0, 2.0, 4.0])
def test_gaussian_mu_inverts_the_exact_gaussian_epsilon(epsilon: float) -> None:
    oracle = optimize.brentq(lambda mu: gaussian_epsilon(DELTA, mu) - epsilon, 1e-3, 20.0)
    assert gaussian_mu(epsilon, DELTA) == pytest.approx(oracle, rel=1e-7)


@pytest.mark.parametrize(("m", "guesses"), [(10_000, 200), (100_000, 1_000), (100_000, 50_000)])
def test_expected_correct_matches_the_simulated_mean(m: int, guesses: int) -> None:
    mu = 0.5
    rng = np.random.default_rng(m + guesses)
    counts = []
    for _ in range(60):
        included = rng.random(m) < 0.5
        order = np.argsort(rng.normal(mu * included, 1.0))
        top, bottom = order[m - guesses // 2 :], order[: guesses - guesses // 2]
        counts.append(included[top].sum() + (~included[bottom]).sum())
    spread = float(np.std(counts)) / math.sqrt(len(counts))
    assert abs(expected_correct(m, guesses, mu) - float(np.mean(counts))) < 4 * spread + 1


@pytest.mark.parametrize(
    ("m", "method", "epsilon"),
    [(1_000, "one_run", 4.0), (20_000, "one_run_fdp", 2.0), (200_000, "one_run_fdp", 2.0)],
)
def test_the_ceiling_is_the_ideal_auditors_median_bound(
    m: int, method: str, epsilon: float
) -> None:
    # The ideal auditor of a mechanism that is exactly the claimed Gaussian curve, simulated
    # independently of ceiling.py's order-statistics formula.
    mu = gaussian_mu(epsilon, DELTA)
    plan = plan_for_ceiling(m, mu, method=method, delta=DELTA, beta=BETA)
    rng = np.random.default_rng(m)
    bounds = [_ideal_auditor(m, mu, plan.guesses, method, rng) for _ in range(41)]
    low, median, high = np.quantile(bounds, [0.3, 0.5, 0.7])
    assert low <= plan.ceiling <= high
    # The formula is the large-m limit: within 2% of the median from m = 20,000 on; at
    # m = 1,000 the floor of E[correct] costs a visible share of a small k.
    assert plan.ceiling == pytest.approx(median, rel=0.1 if m < 10_000 else 0.02)


def test_the_plan_takes_the_best_guess_count_of_its_grid() -> None:
    mu = gaussian_mu(2.0, DELTA)
    plan = plan_for_ceiling(50_000, mu, method="one_run_fdp", delta=DELTA, beta=BETA)
    for k in (10, 100, 500, 5_000, 25_000, 50_000):
        other = ideal_bound(50_000, k, mu, method="one_run_fdp", delta=DELTA, beta=BETA)
        assert other <= plan.ceiling


def test_the_ceiling_grows_with_the_canaries_and_stays_below_the_claim() -> None:
    mu = gaussian_mu(2.0, DELTA)
    ceilings = [
        plan_for_ceiling(m, mu, method="one_run_fdp", delta=DELTA, beta=BETA).ceiling
        for m in (1_000, 10_000, 100_000, 1_000_000)
    ]
    assert ceilings == sorted(ceilings) and ceilings[0] < ceilings[-1] < 2.0
    # The f-DP bound is the tighter one against a Gaussian claim.
    one_run = plan_for_ceiling(100_000, mu, method="one_run", delta=DELTA, beta=BETA)
    assert one_run.ceiling < ceilings[2]


def test_a_scaled_mu_lowers_the_ceiling() -> None:
    mu = gaussian_mu(2.0, DELTA)
    full = plan_for_ceiling(100_000, mu, method="one_run_fdp", delta=DELTA, beta=BETA)
    scaled = plan_for_ceiling(
        100_000, mu, method="one_run_fdp", delta=DELTA, beta=BETA, mu_scale=0.95
    )
    assert scaled.ceiling < full.ceiling


@pytest.mark.parametrize("method", ["one_run", "one_run_fdp"])
def test_the_planned_audit_is_sound_against_the_claimed_gaussian(method: str) -> None:
    # Simulated guessers with known accuracy: canaries from exactly the claimed Gaussian curve
    # (the least private mechanism that meets the claim), m = 100,000 and the guess count the
    # plan fixes. The bound may exceed the true ε in at most a β fraction of audits (plus three
    # binomial standard errors).
    mu = gaussian_mu(2.0, DELTA)
    truth = gaussian_epsilon(DELTA, mu)
    m, trials = 100_000, 200
    plan = plan_for_ceiling(m, mu, method=method, delta=DELTA, beta=BETA)
    rng = np.random.default_rng(7)
    above = sum(_ideal_auditor(m, mu, plan.guesses, method, rng) > truth for _ in range(trials))
    assert above / trials <= BETA + 3 * math.sqrt(BETA * (1 - BETA) / trials)
