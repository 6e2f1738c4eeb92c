"""Privacy profiles and trade-off bounds against closed forms and the accountant."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from privaudit.accounting.accountant import Method, account
from privaudit.accounting.dp_events import NeighbouringRelation
from privaudit.accounting.pld import FloatArray
from privaudit.accounting.profile import (
    MAX_GRID_EPSILON,
    Counts,
    default_epsilon_grid,
    privacy_profile,
    tpr_at,
    tradeoff_upper_bound,
)
from privaudit.errors import InputError, UnsupportedMechanismError
from privaudit.mechanisms import DpSgd, Gaussian, NonPrivate, SelfComposed
from tests.accounting.oracles import gaussian_delta, gaussian_epsilon

ADD_REMOVE = NeighbouringRelation.ADD_OR_REMOVE_ONE
GRID = np.linspace(0.0, 8.0, 81)
ORACLE_ROUNDING = 1e-15
"""gaussian_delta computes Φ(a) − e^ε Φ(b), which cancels down to ~1e-16 absolute error."""
PLD_SLACK = 1e-3
"""PLD is within 0.1% of exact (accountant.DEFAULT_PLD_DISCRETISATION) plus round-off."""

DPSGD = DpSgd(noise_multiplier=1.0, sampling_rate=0.01, steps=1000)


def exact_profile(mu: float, epsilons: FloatArray | tuple[float, ...]) -> FloatArray:
    return np.array([gaussian_delta(float(e), mu) for e in epsilons])


def exact_gaussian_tpr(alpha: FloatArray, mu: float) -> FloatArray:
    # Trade-off of N(0,1) vs N(μ,1): β = Φ(Φ⁻¹(1 − α) − μ) (Dong, Roth & Su 2022, Eq. 2.3),
    # so TPR = 1 − β = Φ(Φ⁻¹(α) + μ).
    return np.asarray(stats.norm.cdf(stats.norm.ppf(alpha) + mu))


def epsilon_delta_tpr(alpha: float, epsilon: float, delta: float) -> float:
    # One (ε, δ) pair (Kairouz, Oh & Viswanath 2015, Thm. 2.1), in plain float arithmetic.
    return min(1.0, delta + math.exp(epsilon) * alpha, 1 - math.exp(-epsilon) * (1 - delta - alpha))


# --- privacy profile ---------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, 5.0])
def test_pld_profile_of_gaussian_is_exact_from_above(sigma: float) -> None:
    exact = exact_profile(1 / sigma, GRID)
    found = privacy_profile(
        {Gaussian(noise_multiplier=sigma): 1}, GRID, relation=ADD_REMOVE, method=Method.PLD
    )
    assert np.all(found >= exact - ORACLE_ROUNDING)
    assert np.all(found <= exact * (1 + PLD_SLACK) + 1e-12)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, 5.0])
def test_rdp_profile_of_gaussian_is_an_upper_bound(sigma: float) -> None:
    exact = exact_profile(1 / sigma, GRID)
    found = privacy_profile(
        {Gaussian(noise_multiplier=sigma): 1}, GRID, relation=ADD_REMOVE, method=Method.RDP
    )
    assert np.all(found >= exact - ORACLE_ROUNDING)


@pytest.mark.parametrize("method", [Method.PLD, Method.RDP])
@pytest.mark.parametrize(("sigma", "steps"), [(2.0, 4), (10.0, 400)])
def test_repeated_gaussians_bound_one_gaussian_with_mu_sqrt_steps(
    method: Method, sigma: float, steps: int
) -> None:
    # T Gaussians with noise σ compose to one with μ = √T/σ (Dong, Roth & Su 2022, Cor. 3.3).
    exact = exact_profile(math.sqrt(steps) / sigma, GRID)
    found = privacy_profile(
        [(Gaussian(noise_multiplier=sigma), steps)], GRID, relation=ADD_REMOVE, method=method
    )
    assert np.all(found >= exact - ORACLE_ROUNDING)


@pytest.mark.parametrize("method", [Method.PLD, Method.RDP])
def test_profile_inverts_the_accountants_epsilon(method: Method) -> None:
    delta = 1e-5
    result = account([DPSGD], delta).result(method)
    assert result.epsilon is not None
    at, below = privacy_profile(
        [(DPSGD, 1)], [result.epsilon, 0.999 * result.epsilon], relation=ADD_REMOVE, method=method
    )
    assert at <= delta * (1 + 1e-6) + 1e-15
    assert below > delta  # ε* is the smallest ε meeting δ: a smaller ε must not


@pytest.mark.parametrize("method", [Method.PLD, Method.RDP])
def test_profile_is_non_increasing_in_epsilon(method: Method) -> None:
    epsilons = np.random.default_rng(7).permutation(np.linspace(0.0, 6.0, 61))
    found = privacy_profile([(DPSGD, 1)], epsilons, relation=ADD_REMOVE, method=method)
    in_order = found[np.argsort(epsilons)]
    assert np.all(np.diff(in_order) <= 0)
    assert in_order[-1] < in_order[0]


def test_one_release_given_several_ways_is_one_composition() -> None:
    gaussian = Gaussian(noise_multiplier=1.5)
    ways: list[Counts] = [
        {gaussian: 3},
        [(gaussian, 1), (gaussian, 2)],
        [(SelfComposed(event=gaussian, count=3), 1)],
    ]
    profiles = [privacy_profile(way, GRID, relation=ADD_REMOVE, method=Method.PLD) for way in ways]
    for profile in profiles[1:]:
        np.testing.assert_array_equal(profile, profiles[0])


@pytest.mark.parametrize("method", [Method.PLD, Method.RDP])
def test_non_private_release_gives_delta_one(method: Method) -> None:
    found = privacy_profile(
        {Gaussian(noise_multiplier=1.0): 5, NonPrivate(): 1},
        GRID,
        relation=ADD_REMOVE,
        method=method,
    )
    np.testing.assert_array_equal(found, np.ones(GRID.size))


@pytest.mark.parametrize("method", [Method.PLD, Method.RDP])
def test_empty_composition_gives_delta_zero(method: Method) -> None:
    found = privacy_profile({}, GRID, relation=ADD_REMOVE, method=method)
    np.testing.assert_array_equal(found, np.zeros(GRID.size))


def test_unsupported_release_raises_like_the_accountant() -> None:
    with pytest.raises(UnsupportedMechanismError) as raised:
        privacy_profile(
            {Gaussian(noise_multiplier=1.0): 1},
            GRID,
            relation=NeighbouringRelation.REPLACE_ONE,
            method=Method.PLD,
        )
    assert raised.value.accountant == "pld"


@pytest.mark.parametrize(
    ("counts", "epsilons"),
    [
        ({Gaussian(noise_multiplier=1.0): 0}, [1.0]),
        ([(Gaussian(noise_multiplier=1.0), True)], [1.0]),
        ({Gaussian(noise_multiplier=1.0): 1}, [-0.5]),
        ({Gaussian(noise_multiplier=1.0): 1}, [math.nan]),
    ],
)
def test_bad_count_or_epsilon_is_an_input_error(counts: object, epsilons: list[float]) -> None:
    with pytest.raises(InputError):
        privacy_profile(counts, epsilons, relation=ADD_REMOVE, method=Method.RDP)  # type: ignore[arg-type]


# --- default grid ------------------------------------------------------------------------------


@pytest.mark.parametrize("epsilon", [0.0, 0.7, 4.2])
def test_default_grid_spans_zero_to_three_epsilon_and_holds_epsilon(epsilon: float) -> None:
    grid = default_epsilon_grid(epsilon)
    assert grid[0] == 0.0
    assert epsilon in grid
    assert grid[-1] == pytest.approx(max(3 * epsilon, 1.0))
    assert all(b > a for a, b in itertools.pairwise(grid))


@pytest.mark.parametrize("epsilon", [math.inf, 1e300])
def test_default_grid_is_finite_for_unbounded_epsilon(epsilon: float) -> None:
    grid = default_epsilon_grid(epsilon, points=30)
    assert all(math.isfinite(value) for value in grid)
    assert grid[0] == 0.0
    assert grid[-1] == MAX_GRID_EPSILON


# --- trade-off ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.7, 1.0, 2.0])
def test_gaussian_tradeoff_from_profile_is_sound_and_tight(sigma: float) -> None:
    mu = 1 / sigma
    epsilons = default_epsilon_grid(gaussian_epsilon(1e-6, mu), points=200)
    deltas = privacy_profile(
        {Gaussian(noise_multiplier=sigma): 1}, epsilons, relation=ADD_REMOVE, method=Method.PLD
    )
    alpha = np.concatenate([np.geomspace(1e-6, 1e-2, 20), np.linspace(0.01, 0.99, 99)])
    exact = exact_gaussian_tpr(alpha, mu)
    bound = tradeoff_upper_bound(epsilons, deltas, alpha)
    # 1e-12: scipy's Φ(Φ⁻¹(α) + μ) is accurate to a few ulps, not exactly.
    assert np.all(bound >= exact - 1e-12)
    # 200 tangent lines ≤ 0.07 apart in ε: the envelope is within O(Δε²) of the curve.
    assert np.all(bound <= exact + 0.005)


@pytest.mark.parametrize("epsilon", [0.1, 1.0, 5.0])
def test_pure_dp_tradeoff_is_the_closed_form(epsilon: float) -> None:
    alpha = np.linspace(0.0, 1.0, 101)
    expected = [epsilon_delta_tpr(float(a), epsilon, 0.0) for a in alpha]
    bound = tradeoff_upper_bound([epsilon], [0.0], alpha)
    np.testing.assert_allclose(bound, expected, rtol=1e-12, atol=1e-15)


def test_power_at_zero_false_positives_is_the_smallest_delta() -> None:
    # At α = 0 a pair allows min(δ, 1 − e^{−ε}(1 − δ)) = δ, so only δ can leak membership.
    assert tpr_at(0.0, [0.5, 2.0, 8.0], [1e-3, 1e-6, 1e-9]) == pytest.approx(1e-9, rel=1e-12)
    assert tpr_at(0.0, [1.0], [0.0]) == 0.0


def test_no_pairs_bound_nothing() -> None:
    np.testing.assert_array_equal(tradeoff_upper_bound([], [], [0.0, 0.5]), [1.0, 1.0])


epsilons_st = st.one_of(st.floats(0.0, 30.0), st.just(1000.0), st.just(math.inf))
pairs_st = st.lists(st.tuples(epsilons_st, st.floats(0.0, 1.0)), max_size=6)
alphas_st = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30)


def _bound(pairs: list[tuple[float, float]], alphas: list[float]) -> FloatArray:
    return tradeoff_upper_bound([e for e, _ in pairs], [d for _, d in pairs], alphas)


@given(pairs_st, alphas_st)
def test_tradeoff_bound_is_non_decreasing_in_alpha(
    pairs: list[tuple[float, float]], alphas: list[float]
) -> None:
    assert np.all(np.diff(_bound(pairs, sorted(alphas))) >= 0)


@given(pairs_st, alphas_st)
def test_tradeoff_bound_lies_between_alpha_and_one(
    pairs: list[tuple[float, float]], alphas: list[float]
) -> None:
    bound = _bound(pairs, alphas)
    assert np.all(bound >= np.asarray(alphas))
    assert np.all(bound <= 1.0)


@given(pairs_st, pairs_st.filter(bool), alphas_st)
def test_more_pairs_never_raise_the_tradeoff_bound(
    pairs: list[tuple[float, float]], more: list[tuple[float, float]], alphas: list[float]
) -> None:
    assert np.all(_bound(pairs + more, alphas) <= _bound(pairs, alphas))
