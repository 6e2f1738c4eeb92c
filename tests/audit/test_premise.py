"""``--method auto``: the f-DP bound where the claim is a Gaussian curve (its μ scaled by μ*/μd),
the (ε, δ) bound otherwise, and the scaled bound's soundness against simulated mechanisms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from privaudit.accounting.accountant import account
from privaudit.accounting.calibrate import calibrate_noise, dpsgd_mechanism
from privaudit.audit.bounds import audit_from_scores
from privaudit.audit.ceiling import gaussian_mu
from privaudit.audit.premise import GAUSSIAN_SLACK, choose_method
from privaudit.mechanisms import Gaussian, Laplace
from tests.accounting.oracles import gaussian_epsilon

DELTA = 1e-5
BETA = 0.05


def _claim(epsilon: float, rate: float, steps: int) -> tuple[object, float]:
    sigma = calibrate_noise(epsilon, DELTA, rate, steps).value
    mechanism = dpsgd_mechanism(sigma, rate, steps)
    return mechanism, account([mechanism], DELTA).epsilon


@pytest.mark.parametrize("epsilon", [1.0, 2.0, 4.0, 8.0])
def test_the_audited_dpsgd_claim_is_gaussian(epsilon: float) -> None:
    mechanism, claimed = _claim(epsilon, 0.1, 400)
    choice = choose_method("auto", mechanism, claimed, DELTA)  # type: ignore[arg-type]
    assert choice.method == "one_run_fdp" and choice.requested == "auto"
    assert choice.dominating_mu is not None
    ratio = choice.dominating_mu / choice.gaussian_mu
    assert 1.0 <= ratio <= 1 + GAUSSIAN_SLACK
    assert choice.mu_scale == pytest.approx(1 / ratio)


def test_the_gaussian_mechanism_needs_no_scaling() -> None:
    # One Gaussian release is exactly its own Gaussian curve: μd = μ* = 1/σ up to the PLD's
    # pessimistic discretisation.
    mechanism = Gaussian(noise_multiplier=2.0)
    claimed = account([mechanism], DELTA).epsilon
    choice = choose_method("auto", mechanism, claimed, DELTA)
    assert choice.method == "one_run_fdp"
    assert choice.gaussian_mu == pytest.approx(0.5, rel=1e-3)
    assert choice.mu_scale == pytest.approx(1.0, abs=5e-3)


@pytest.mark.parametrize(
    "claim",
    [
        pytest.param(lambda: _claim(2.0, 0.01, 10), id="few-sampled-steps"),
        pytest.param(
            lambda: (Laplace(scale=0.5), account([Laplace(scale=0.5)], DELTA).epsilon), id="laplace"
        ),
    ],
)
def test_a_claim_far_from_gaussian_falls_back_to_one_run(claim: object) -> None:
    mechanism, claimed = claim()  # type: ignore[operator]
    choice = choose_method("auto", mechanism, claimed, DELTA)
    assert choice.method == "one_run" and "not a Gaussian" in choice.reason
    assert choice.mu_scale == 1.0


def test_an_explicit_method_is_kept() -> None:
    mechanism, claimed = _claim(2.0, 0.01, 10)
    choice = choose_method("one_run_fdp", mechanism, claimed, DELTA)  # type: ignore[arg-type]
    assert choice.method == "one_run_fdp" and choice.reason == "requested"


@pytest.mark.parametrize("guesses", [200, 2_000])
def test_the_scaled_bound_is_sound_for_a_mechanism_at_the_dominating_mu(guesses: int) -> None:
    # A simulated guesser with known accuracy: canaries from exactly G_μd, the worst mechanism
    # the premise allows. Scaled by μ*/μd the bound may exceed the claim ε(μ*) in at most a β
    # fraction of audits (plus three binomial standard errors).
    mu_star = gaussian_mu(2.0, DELTA)
    mu_d = 1.05 * mu_star
    trials, m = 300, 20_000
    rng = np.random.default_rng(guesses)
    above = 0
    for _ in range(trials):
        included = rng.random(m) < 0.5
        scores = rng.normal(mu_d * included, 1.0)
        bound = audit_from_scores(
            scores,
            included,
            delta=DELTA,
            method="one_run_fdp",
            guess_counts=[guesses],
            mu_scale=mu_star / mu_d,
        )
        above += bound.epsilon_lower_bound > gaussian_epsilon(DELTA, mu_star)
    assert above / trials <= BETA + 3 * math.sqrt(BETA * (1 - BETA) / trials)


def test_scaling_is_what_keeps_the_bound_below_the_claim() -> None:
    # Without the scaling, a mechanism at μd = 1.3·μ* (allowed by no premise) is flagged against
    # the claim ε(μ*) far more often than β: the scaling is not cosmetic.
    mu_star = gaussian_mu(2.0, DELTA)
    mu_d = 1.3 * mu_star
    rng = np.random.default_rng(3)
    flagged = {1.0: 0, mu_star / mu_d: 0}
    for _ in range(40):
        included = rng.random(100_000) < 0.5
        scores = rng.normal(mu_d * included, 1.0)
        for scale in flagged:
            bound = audit_from_scores(
                scores,
                included,
                delta=DELTA,
                method="one_run_fdp",
                guess_counts=[1_000],
                mu_scale=scale,
            )
            flagged[scale] += bound.epsilon_lower_bound > gaussian_epsilon(DELTA, mu_star)
    assert flagged[1.0] > 10 and flagged[mu_star / mu_d] <= 6
