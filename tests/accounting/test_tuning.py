"""Hyperparameter tuning: the RDP bounds of Papernot & Steinke 2022 (ICLR, arXiv:2110.03620v2),
computed here from the theorems' statements for a Gaussian candidate run, against privaudit's.

The oracles below are written from the paper, not from privaudit's code: a Gaussian run with
noise multiplier σ is (λ, λ/(2σ²))-RDP at every order λ (Mironov 2017, Prop. 7).
- Thm. 2 (K truncated negative binomial, shape η, parameter γ): the best of K runs is (λ, ε')-RDP
  with ε' = ε + (1 + η)(1 − 1/λ̂)ε̂ + (1 + η) log(1/γ)/λ̂ + log E[K]/(λ − 1), for any λ̂ at which
  the run is (λ̂, ε̂)-RDP; E[K] = η(1 − γ)/(γ(1 − γ^η)), or (1/γ − 1)/log(1/γ) for η = 0.
- Thm. 6 (K Poisson with mean μ): if the run is also (ε̂, δ̂)-DP with e^ε̂ ≤ 1 + 1/(λ − 1),
  ε' = ε + μ·δ̂ + log(μ)/(λ − 1).
Each bound holds at its own order; Rényi divergence is nondecreasing in the order (van Erven &
Harremoës 2014, Thm. 3), so a bound at a higher order also bounds every lower one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize

from privaudit.accounting.accountant import (
    DEFAULT_RDP_ORDERS,
    Method,
    PldAccountant,
    RdpAccountant,
    account,
    rdp_of,
)
from privaudit.accounting.dp_events import NeighbouringRelation, to_dp_event
from privaudit.accounting.rdp import rdp_tuning
from privaudit.cli import main
from privaudit.errors import InputError, UnsupportedMechanismError
from privaudit.mechanisms import (
    Composed,
    DpSgd,
    Gaussian,
    Sampling,
    Tuning,
    mechanism_to_json,
    parse_mechanism,
)
from tests.accounting.oracles import gaussian_delta
from tests.cli.helpers import write_policy

ADD = NeighbouringRelation.ADD_OR_REMOVE_ONE
ORDERS = DEFAULT_RDP_ORDERS
LAMBDAS = np.array(ORDERS)


def gaussian_rdp(sigma: float) -> np.ndarray:
    return LAMBDAS / (2 * sigma**2)


def truncated_negative_binomial_mean(gamma: float, eta: float) -> float:
    """E[K] of the truncated negative binomial (Papernot & Steinke 2022, Sec. 2)."""
    if eta == 0:
        return (1 / gamma - 1) / math.log(1 / gamma)
    return eta * (1 - gamma) / (gamma * (1 - gamma**eta))


def gamma_for_mean(mean: float, eta: float) -> float:
    return float(
        optimize.brentq(
            lambda g: truncated_negative_binomial_mean(g, eta) - mean,
            1e-12,
            1 - 1e-12,
            xtol=1e-15,
            rtol=1e-15,
        )
    )


def nondecreasing_envelope(bounds: np.ndarray) -> np.ndarray:
    """Each order's best bound among itself and every higher order (orders sorted ascending)."""
    return np.array([bounds[i:].min() for i in range(len(bounds))])


def theorem_2(sigma: float, mean: float, eta: float) -> np.ndarray:
    eps = gaussian_rdp(sigma)
    gamma = gamma_for_mean(mean, eta)
    # λ̂ free: minimise the λ̂-terms over the same grid of orders.
    lambda_hat_terms = min(
        (1 + eta) * (1 - 1 / lh) * (lh / (2 * sigma**2)) + (1 + eta) * math.log(1 / gamma) / lh
        for lh in ORDERS
    )
    return nondecreasing_envelope(eps + lambda_hat_terms + math.log(mean) / (LAMBDAS - 1))


def cks20_delta(eps_hat: float, sigma: float) -> float:
    """δ at ε̂ of a Gaussian run from its RDP on the grid: Canonne, Kamath & Steinke 2020,
    Prop. 12, δ = exp((α − 1)(ρ_α − ε̂)) / α · (1 − 1/α)^(α − 1), and δ ≤ √(1 − e^{−ρ_α})
    (Bretagnolle–Huber with KL ≤ D_α)."""
    log_best = 0.0  # δ ≤ 1
    for alpha in ORDERS:
        rho = alpha / (2 * sigma**2)
        log_prop12 = (
            (alpha - 1) * (rho - eps_hat) - math.log(alpha) + (alpha - 1) * math.log(1 - 1 / alpha)
        )
        log_tv = 0.5 * math.log(1 - math.exp(-rho))
        log_best = min(log_best, log_prop12, log_tv)
    return math.exp(log_best)


def theorem_6(sigma: float, mu: float, delta_hat: object = cks20_delta) -> np.ndarray:
    eps = gaussian_rdp(sigma)
    bounds = []
    for i, lam in enumerate(ORDERS):
        eps_hat = math.log(1 + 1 / (lam - 1))  # the largest ε̂ the theorem allows at λ
        d_hat = delta_hat(eps_hat, sigma)  # type: ignore[operator]
        bounds.append(eps[i] + mu * d_hat + math.log(mu) / (lam - 1))
    return nondecreasing_envelope(np.array(bounds))


def privaudit_rdp(sigma: float, mean: float, shape: float | None) -> np.ndarray:
    tuned = Tuning(event=Gaussian(noise_multiplier=sigma), mean=mean, shape=shape)
    return np.asarray(rdp_of(tuned, 1, ADD, ORDERS))


# --- the paper's bounds --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sigma", "mean", "eta"),
    [(2.0, 10.0, 0.0), (1.0, 20.0, 1.0), (3.0, 5.0, 0.5), (4.0, 100.0, 2.0)],
)
def test_truncated_negative_binomial_matches_theorem_2(
    sigma: float, mean: float, eta: float
) -> None:
    expected = theorem_2(sigma, mean, eta)
    found = privaudit_rdp(sigma, mean, eta)
    # privaudit rounds γ down (never below the bound): equal to the bisection's precision.
    np.testing.assert_allclose(found, expected, rtol=1e-8)
    assert np.all(found >= expected * (1 - 1e-12))


@pytest.mark.parametrize(("sigma", "mu"), [(2.0, 10.0), (5.0, 3.0), (1.5, 50.0)])
def test_poisson_matches_theorem_6(sigma: float, mu: float) -> None:
    found = privaudit_rdp(sigma, mu, None)
    np.testing.assert_allclose(found, theorem_6(sigma, mu), rtol=1e-9)
    # With the Gaussian's exact δ̂ (Balle & Wang 2018) the same theorem can only be tighter.
    exact = theorem_6(sigma, mu, lambda e, s: gaussian_delta(e, 1 / s))
    assert np.all(found >= exact * (1 - 1e-9))


@pytest.mark.parametrize(
    ("sigma", "mean", "shape"),
    [(2.0, 10.0, None), (5.0, 3.0, None), (2.0, 10.0, 0.0), (3.0, 5.0, 0.5)],
)
def test_agrees_with_dp_accounting_repeat_and_select(
    sigma: float, mean: float, shape: float | None
) -> None:
    from dp_accounting import dp_event
    from dp_accounting.rdp import rdp_privacy_accountant

    orders = [a for a in rdp_privacy_accountant.DEFAULT_RDP_ORDERS if a > 1]
    backend = rdp_privacy_accountant.RdpAccountant(orders=orders)
    law = math.inf if shape is None else shape
    backend.compose(dp_event.RepeatAndSelectDpEvent(dp_event.GaussianDpEvent(sigma), mean, law))
    tuned = Tuning(event=Gaussian(noise_multiplier=sigma), mean=mean, shape=shape)
    found = np.asarray(rdp_of(tuned, 1, ADD, tuple(float(a) for a in orders)))
    # dp_accounting takes the monotone envelope for the negative binomial only; privaudit for both.
    theirs = nondecreasing_envelope(np.asarray(backend._rdp))
    np.testing.assert_allclose(found, theirs, rtol=1e-9)


def test_tuning_maps_to_dp_accountings_repeat_and_select() -> None:
    from dp_accounting import dp_event

    run = Gaussian(noise_multiplier=2.0)
    poisson = to_dp_event(Tuning(event=run, mean=10))
    assert poisson == dp_event.RepeatAndSelectDpEvent(dp_event.GaussianDpEvent(2.0), 10, math.inf)
    assert to_dp_event(Tuning(event=run, mean=4, shape=1)).shape == 1


# --- what the ledger is charged ------------------------------------------------------------

RUN = DpSgd(noise_multiplier=1.1, sampling_rate=256 / 60000, steps=2000)


@pytest.mark.parametrize("shape", [None, 0.0, 1.0, 3.0])
@pytest.mark.parametrize("mean", [1.0, 2.0, 10.0, 1000.0])
def test_tuning_costs_at_least_one_candidate_run(mean: float, shape: float | None) -> None:
    one = account([RUN], 1e-5, Method.RDP).epsilon
    tuned = account([Tuning(event=RUN, mean=mean, shape=shape)], 1e-5, Method.RDP)
    assert tuned.method is Method.RDP
    assert tuned.epsilon >= one


@pytest.mark.parametrize("shape", [None, 0.0])
def test_more_candidates_cost_more(shape: float | None) -> None:
    costs = [
        account([Tuning(event=RUN, mean=m, shape=shape)], 1e-5, Method.RDP).epsilon
        for m in (2, 10, 100, 1000)
    ]
    assert costs == sorted(costs) and costs[0] < costs[-1]


def test_pld_cannot_account_for_tuning_and_the_verdict_uses_rdp() -> None:
    tuned = Tuning(event=RUN, mean=10)
    result = account([tuned, Gaussian(noise_multiplier=3.0)], 1e-5, Method.PLD)
    assert not result.pld.supported
    assert result.pld.reason is not None and "no privacy-loss distribution" in result.pld.reason
    assert result.method is Method.RDP
    assert result.rdp.supported and result.epsilon == result.rdp.epsilon
    with pytest.raises(UnsupportedMechanismError):
        PldAccountant().compose(tuned)
    assert PldAccountant().unsupported_reason(Composed(events=(tuned,))) is not None


def test_rdp_composes_tuning_with_other_releases() -> None:
    tuned = Tuning(event=RUN, mean=10, shape=1)
    alone = RdpAccountant().compose(tuned).get_epsilon(1e-5)
    both = RdpAccountant().compose(tuned).compose(RUN).get_epsilon(1e-5)
    assert both > alone
    twice = account([tuned, tuned], 1e-5, Method.RDP)
    assert twice.epsilon > alone and twice.rdp.rdp_order is not None


def test_a_replace_one_candidate_run_is_accounted_under_replace_one() -> None:
    run = DpSgd(
        noise_multiplier=2.0,
        sampling_rate=0.01,
        steps=100,
        sampling=Sampling.FIXED_BATCH,
        dataset_size=10_000,
    )
    result = account([Tuning(event=run, mean=5)], 1e-5)
    assert result.relation is NeighbouringRelation.REPLACE_ONE
    assert result.method is Method.RDP
    assert result.epsilon >= account([run], 1e-5).epsilon


def test_engine_refuses_bad_arguments() -> None:
    rdp = gaussian_rdp(2.0)
    for mean, shape, field in [(0.5, None, "mean"), (math.nan, 0.0, "mean"), (2.0, -1.0, "shape")]:
        with pytest.raises(InputError) as caught:
            rdp_tuning(rdp, ORDERS, mean, shape)
        assert caught.value.field == field


# --- the gate ------------------------------------------------------------------------------


def test_check_assesses_a_tuning_entry_with_rdp(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    policy = write_policy(tmp_path / "policy.yaml", 10.0)  # ds: ε ≤ 10 at δ = 1e-6
    tuned = mechanism_to_json(Tuning(event=RUN, mean=10))
    assert parse_mechanism(tuned) == Tuning(event=RUN, mean=10)
    assert (
        main(["ledger", "add", str(ledger), "--dataset", "ds", "--mechanism", json.dumps(tuned)])
        == 0
    )
    capsys.readouterr()

    code = main(["check", str(ledger), "--policy", str(policy)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "(RDP, add_or_remove_one)" in text
    assert "no privacy-loss distribution is known for tuning" in text

    main(["check", str(ledger), "--policy", str(policy), "--format", "json"])
    [dataset] = json.loads(capsys.readouterr().out)["datasets"]
    assert dataset["method"] == "rdp"
    assert dataset["epsilon_pld"] is None
    expected = account([Tuning(event=RUN, mean=10)], 1e-6, Method.RDP).epsilon
    assert dataset["epsilon"] == pytest.approx(expected, rel=1e-12)
