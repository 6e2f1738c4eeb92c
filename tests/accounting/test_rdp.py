"""The vectorised RDP engine against quadrature, closed forms, exact curves and dp_accounting.

Oracles are independent of the code under test: A_α by mpmath quadrature of its defining
expectation, the Gaussian closed forms, the exact ε of one subsampled-Gaussian step and of composed
Gaussians (tests/accounting/oracles.py), and dp_accounting's own RDP code for comparisons.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pytest
from dp_accounting import dp_event
from dp_accounting.pld import privacy_loss_distribution
from dp_accounting.rdp import rdp_privacy_accountant as dp_rdp
from hypothesis import assume, given
from hypothesis import strategies as st

from privaudit.accounting.rdp import (
    DEFAULT_ORDERS,
    _log_a_fractional,
    delta_from_rdp,
    epsilon_from_rdp,
    log_a_subsampled_gaussian,
    rdp_grid_epsilon,
    rdp_of_schedule,
    rdp_subsampled_gaussian,
)
from privaudit.errors import InputError
from tests.accounting.oracles import gaussian_epsilon, subsampled_gaussian_epsilon

DP_ORDERS = np.array(dp_rdp.DEFAULT_RDP_ORDERS, dtype=float)


@pytest.fixture(autouse=True)
def _quiet_dp_accounting() -> Any:
    """dp_accounting logs (absl) a warning for every order it drops; the tests expect that."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def _dp_accounting_epsilon(q: float, sigma: float, steps: int, delta: float) -> float:
    accountant = dp_rdp.RdpAccountant()
    event = dp_event.GaussianDpEvent(sigma)
    if q < 1:
        event = dp_event.PoissonSampledDpEvent(q, event)
    accountant.compose(event, steps)
    return float(accountant.get_epsilon(delta))


# ---------------------------------------------------------------------------------------------
# log A_α against quadrature


def _log_a_by_quadrature(q: float, sigma: float, alpha: float) -> float:
    """log A_α = log E_{z∼N(0,σ²)}[(1 − q + q e^{(2z−1)/(2σ²)})^α] by quadrature (MTZ19 Sec. 3.3).

    Integrates A_α − 1 = E[(1 + x)^α − 1 − αx] with x = q(e^{(2z−1)/(2σ²)} − 1), since E[x] = 0;
    the integrand is ≥ 0 (convexity), so small values keep their relative accuracy. The domain is
    split at the mode of the integrand of A_α, around it, and at z = 1/2 and z_0.
    """
    mpmath = pytest.importorskip("mpmath", reason="the quadrature oracle needs mpmath")
    with mpmath.workdps(30):
        mp = mpmath.mp
        qm, s, a = mp.mpf(q), mp.mpf(sigma), mp.mpf(alpha)

        def integrand(z: Any) -> Any:
            x = qm * mp.expm1((2 * z - 1) / (2 * s * s))
            return (mp.power(1 + x, a) - 1 - a * x) * mp.npdf(z, 0, s)

        def slope(z: Any) -> Any:  # derivative of the log of the integrand of A_α
            e = qm * mp.exp((2 * z - 1) / (2 * s * s))
            return -z / (s * s) + a * e / ((1 - qm + e) * s * s)

        mode = mp.findroot(slope, (mp.mpf(-1), a + 1), solver="anderson")
        points = {mode + j * s for j in (-12, -6, -3, -1, 0, 1, 3, 6, 12)} | {mp.mpf(0.5)}
        if q < 1:
            points.add(s * s * mp.log(1 / qm - 1) + mp.mpf(0.5))
        value = mp.quad(integrand, [-mp.inf, *sorted(points), mp.inf])
        return float(mp.log1p(value))


QUADRATURE_CASES = [
    # (q, σ, α): every α, q and σ named in the brief, fractional and integer, mixed regimes.
    (1e-4, 0.5, 1.05),
    (1e-4, 1.1, 2.5),
    (1e-4, 4.0, 7.3),
    (1e-4, 0.8, 12.0),
    (0.004266, 0.8, 1.05),
    (0.004266, 1.1, 1.5),
    (0.004266, 0.5, 2.5),
    (0.004266, 4.0, 40.0),
    (0.05, 0.5, 1.05),
    (0.05, 0.8, 1.5),
    (0.05, 1.1, 7.3),
    (0.05, 4.0, 12.0),
    (0.5, 0.5, 1.05),
    (0.5, 1.1, 1.5),
    (0.5, 4.0, 2.5),
    (0.5, 0.8, 7.3),
    (0.5, 1.1, 40.0),
    (1.0, 0.8, 1.5),
    (1.0, 4.0, 7.3),
    (0.9, 0.5, 2.5),
]


@pytest.mark.parametrize(("q", "sigma", "alpha"), QUADRATURE_CASES)
def test_log_a_matches_quadrature_and_is_not_below_it(q: float, sigma: float, alpha: float) -> None:
    exact = _log_a_by_quadrature(q, sigma, alpha)
    ours = float(log_a_subsampled_gaussian(q, sigma, [alpha])[0])
    assert abs(ours - exact) <= 1e-6 * exact  # the done-criterion
    assert ours >= exact * (1 - 1e-10)  # an upper bound (quadrature is good to ~1e-25 here)
    rdp = float(rdp_subsampled_gaussian(q, sigma, [alpha])[0])
    assert rdp == pytest.approx(exact / (alpha - 1), rel=1e-6)


@pytest.mark.parametrize(("q", "sigma", "alpha"), [(0.004266, 0.5, 1.05), (0.05, 4.0, 1.05)])
def test_dp_accounting_overstates_fractional_orders_and_we_do_not(
    q: float, sigma: float, alpha: float
) -> None:
    # dp_accounting's _compute_log_a_frac adds |C(α, k)| for the alternating terms k > α.
    exact = _log_a_by_quadrature(q, sigma, alpha)
    theirs = float(dp_rdp._compute_log_a(q, sigma, alpha))
    ours = float(log_a_subsampled_gaussian(q, sigma, [alpha])[0])
    assert theirs > exact * 1.02
    assert exact <= ours * (1 + 1e-10) and ours <= exact * (1 + 1e-9)


@pytest.mark.parametrize("sigma", [0.3, 0.8, 2.0, 50.0])
def test_full_sampling_is_the_gaussian_closed_form(sigma: float) -> None:
    # Mironov 2017, Prop. 7: the Gaussian mechanism has RDP α/(2σ²) at every order.
    orders = np.array([1.01, 1.5, 2.0, 7.3, 64.0, 4096.0])
    np.testing.assert_allclose(
        rdp_subsampled_gaussian(1.0, sigma, orders), orders / (2 * sigma**2), rtol=1e-14
    )


def test_integer_orders_agree_with_dp_accounting() -> None:
    integer = DP_ORDERS[np.floor(DP_ORDERS) == DP_ORDERS]
    for q, sigma in [(1e-4, 0.8), (0.004266, 1.1), (0.05, 0.5), (0.3, 4.0), (0.5, 1.0), (0.9, 2.0)]:
        theirs = dp_rdp._compute_rdp_poisson_subsampled_gaussian(q, sigma, integer)
        ours = rdp_subsampled_gaussian(q, sigma, integer)
        np.testing.assert_allclose(ours, theirs, rtol=1e-9)


@pytest.mark.parametrize(
    ("q", "sigma"), [(1e-4, 0.8), (0.004266, 1.1), (0.05, 0.8), (0.3, 4.0), (0.5, 1.0), (0.9, 0.5)]
)
def test_no_order_is_above_dp_accounting(q: float, sigma: float) -> None:
    theirs = dp_rdp._compute_rdp_poisson_subsampled_gaussian(q, sigma, DP_ORDERS)
    ours = rdp_subsampled_gaussian(q, sigma, DP_ORDERS)
    assert np.all(np.isfinite(ours))
    # 2e-8: dp_accounting's own shortfall below the truth when A_α − 1 is small (next test).
    assert np.all(ours <= theirs * (1 + 2e-8))


@pytest.mark.parametrize(
    ("q", "sigma", "alpha", "shortfall"),
    [(1e-4, 0.8, 9.9, 1e-9), (0.004266666666666667, 4.526315789473684, 37.0, 3e-12)],
)
def test_dp_accounting_can_fall_below_the_truth_and_we_do_not(
    q: float, sigma: float, alpha: float, shortfall: float
) -> None:
    # dp_accounting takes log(Σ terms) with Σ = 1 + (A_α − 1) and loses the digits of a small
    # A_α − 1 (fractional and integer orders alike); we sum A_α − 1 itself.
    exact = _log_a_by_quadrature(q, sigma, alpha)
    theirs = float(dp_rdp._compute_log_a(q, sigma, alpha))
    ours = float(log_a_subsampled_gaussian(q, sigma, [alpha])[0])
    assert theirs < exact * (1 - shortfall)
    assert exact <= ours <= exact * (1 + 1e-11)


def test_fractional_series_enclosure_is_tight_everywhere() -> None:
    """The certified tail enclosure is < 1e-14 of A_α − 1 for every default fractional order."""
    q = np.array([1e-6, 1e-4, 0.004266, 0.05, 0.25, 0.5, 0.75, 0.999])
    sigma = np.array([0.3, 0.5, 1.0, 4.0, 50.0])
    qq, ss = (grid.ravel() for grid in np.meshgrid(q, sigma))
    fractional = DEFAULT_ORDERS[np.floor(DEFAULT_ORDERS) != DEFAULT_ORDERS]
    log_a, width = _log_a_fractional(qq, ss, fractional)
    assert np.all(np.isfinite(log_a))
    assert np.all(width <= 1e-14)


# ---------------------------------------------------------------------------------------------
# Where dp_accounting drops orders, and ε against exact values


def test_q_half_sigma_one_keeps_the_orders_dp_accounting_drops() -> None:
    low = np.round(np.arange(1.1, 1.85, 0.1), 1)
    theirs = dp_rdp._compute_rdp_poisson_subsampled_gaussian(0.5, 1.0, low)
    assert np.all(np.isinf(theirs))  # the premise: dp_accounting gives up on these orders
    ours = rdp_subsampled_gaussian(0.5, 1.0, low)
    assert np.all(np.isfinite(ours)) and np.all(np.diff(ours) > 0)

    delta = 1e-5
    one_step = float(epsilon_from_rdp(rdp_subsampled_gaussian(0.5, 1.0), DEFAULT_ORDERS, delta)[0])
    assert subsampled_gaussian_epsilon(delta, 0.5, 1.0) <= one_step
    assert one_step <= _dp_accounting_epsilon(0.5, 1.0, 1, delta)

    # 100 steps: the optimum is at an order dp_accounting dropped, and we are > 3% tighter,
    # yet above dp_accounting's optimistic PLD (a lower bound on the exact ε).
    steps = 100
    ours_100 = float(rdp_grid_epsilon(0.5, 1.0, steps, delta))
    theirs_100 = _dp_accounting_epsilon(0.5, 1.0, steps, delta)
    assert _optimistic_pld_epsilon(0.5, 1.0, steps, delta) <= ours_100 <= theirs_100 * 0.97


def _optimistic_pld_epsilon(q: float, sigma: float, steps: int, delta: float) -> float:
    """dp_accounting's optimistic PLD (privacy buckets): a lower bound on the exact ε."""
    pld = privacy_loss_distribution.from_gaussian_mechanism(
        sigma,
        sampling_prob=q,
        pessimistic_estimate=False,
        use_connect_dots=False,
        value_discretization_interval=1e-3,
    )
    return float(pld.self_compose(steps).get_epsilon_for_delta(delta))


def test_orders_between_64_and_256_tighten_small_epsilon() -> None:
    # Small ε, δ = 1e-5: the optimum lies between dp_accounting's orders 63 and 128.
    q, sigma, steps, delta = 0.0017, 3.1, 589, 1e-5
    ours = float(rdp_grid_epsilon(q, sigma, steps, delta))
    theirs = _dp_accounting_epsilon(q, sigma, steps, delta)
    assert _optimistic_pld_epsilon(q, sigma, steps, delta) <= ours <= 0.6 * theirs
    _, order = epsilon_from_rdp(steps * rdp_subsampled_gaussian(q, sigma), DEFAULT_ORDERS, delta)
    assert 63 < float(order) < 128


@pytest.mark.parametrize(("sigma", "steps"), [(0.8, 50), (1.0, 4), (3.0, 100), (10.0, 1000)])
@pytest.mark.parametrize("delta", [1e-5, 1e-8])
def test_composed_gaussians_between_exact_and_dp_accounting(
    sigma: float, steps: int, delta: float
) -> None:
    # T Gaussians with noise σ compose to one Gaussian with μ = √T/σ (Dong, Roth & Su 2019).
    exact = gaussian_epsilon(delta, math.sqrt(steps) / sigma)
    ours = float(rdp_grid_epsilon(1.0, sigma, steps, delta))
    assert exact <= ours <= _dp_accounting_epsilon(1.0, sigma, steps, delta) * (1 + 1e-12)


@pytest.mark.parametrize(
    ("q", "sigma", "steps"), [(0.004266, 1.1, 10_000), (0.01, 0.6, 10_000), (0.1, 0.7, 3000)]
)
def test_subsampled_compositions_not_above_dp_accounting(
    q: float, sigma: float, steps: int
) -> None:
    delta = 1e-5
    ours = float(rdp_grid_epsilon(q, sigma, steps, delta))
    assert subsampled_gaussian_epsilon(delta, q, sigma) <= ours  # one step is below T steps
    assert ours <= _dp_accounting_epsilon(q, sigma, steps, delta) * (1 + 1e-12)


# ---------------------------------------------------------------------------------------------
# Conversion


_ORDERS = st.lists(
    st.floats(1.0 + 1e-6, 5000.0, allow_nan=False), min_size=1, max_size=30, unique=True
)


@given(
    orders=_ORDERS,
    data=st.data(),
    delta=st.floats(1e-15, 0.5),
)
def test_epsilon_conversion_not_above_dp_accounting(
    orders: list[float], data: st.DataObject, delta: float
) -> None:
    rdp = data.draw(
        st.lists(st.floats(0.0, 1e4), min_size=len(orders), max_size=len(orders)), label="rdp"
    )
    ours, order = epsilon_from_rdp(np.array(rdp), np.array(orders), delta)
    theirs, _ = dp_rdp.compute_epsilon(orders, rdp, delta)
    assert float(ours) <= float(theirs) * (1 + 1e-12) + 1e-12
    assert float(order) in orders

    # Consistency: δ at our ε is at most the δ we asked for (up to the rounding of the way back,
    # which multiplies the rounding of ε by α − 1), and not above dp_accounting's δ.
    back, _ = delta_from_rdp(np.array(rdp), np.array(orders), ours)
    r_at = rdp[orders.index(float(order))]
    rounding = 32 * np.finfo(float).eps * (float(order) - 1) * (r_at + float(ours) + 1)
    assert float(back) <= delta * math.exp(rounding + 1e-12)
    if math.isfinite(float(ours)) and not any(0 < r < 1e-6 for r in rdp):
        # dp_accounting computes √(1 − e^{−rdp}) as log1p(−exp(−rdp)), off by ~u/rdp (and a
        # math domain error for rdp < 1e-16), so tiny rdp values are left out of this check.
        their_delta, _ = dp_rdp.compute_delta(orders, rdp, float(ours))
        assert float(back) <= their_delta * math.exp(rounding + 1e-9)


def test_conversion_is_vectorised_over_curves_and_deltas() -> None:
    rdp = rdp_subsampled_gaussian(np.array([0.01, 0.1])[:, None], np.array([0.8, 2.0])[None, :])
    deltas = np.array([1e-5, 1e-8])[:, None, None]
    eps, orders = epsilon_from_rdp(100 * rdp, DEFAULT_ORDERS, deltas)
    assert eps.shape == orders.shape == (2, 2, 2)
    for i, j, k in np.ndindex(2, 2, 2):
        single, order = epsilon_from_rdp(100 * rdp[j, k], DEFAULT_ORDERS, deltas[i, 0, 0])
        assert eps[i, j, k] == single and orders[i, j, k] == order
    assert np.all(eps[1] > eps[0])  # smaller δ costs more ε


def test_degenerate_conversions() -> None:
    zero = np.zeros(DEFAULT_ORDERS.size)
    assert float(epsilon_from_rdp(zero, DEFAULT_ORDERS, 1e-6)[0]) == 0.0
    assert float(epsilon_from_rdp(zero, DEFAULT_ORDERS, 0.0)[0]) == 0.0
    some = rdp_subsampled_gaussian(0.01, 1.0)
    assert float(epsilon_from_rdp(some, DEFAULT_ORDERS, 0.0)[0]) == math.inf
    assert float(delta_from_rdp(some, DEFAULT_ORDERS, math.inf)[0]) == 0.0
    assert float(delta_from_rdp(some, DEFAULT_ORDERS, 0.0)[0]) <= 1.0


# ---------------------------------------------------------------------------------------------
# Grids and schedules


def test_grid_equals_pointwise_calls() -> None:
    q = np.array([1e-3, 0.01, 0.2])
    sigma = np.array([0.6, 1.1, 3.0])
    steps = np.array([1, 100, 5000])
    grid = rdp_grid_epsilon(q[:, None, None], sigma[None, :, None], steps[None, None, :], 1e-6)
    assert grid.shape == (3, 3, 3)
    for i, j, k in np.ndindex(3, 3, 3):
        per_step = rdp_subsampled_gaussian(q[i], sigma[j])
        point, _ = epsilon_from_rdp(steps[k] * per_step, DEFAULT_ORDERS, 1e-6)
        assert grid[i, j, k] == pytest.approx(float(point), rel=1e-15, abs=0)


@given(
    q=st.floats(1e-5, 1.0),
    q_factor=st.floats(1.01, 10.0),
    sigma=st.floats(0.3, 20.0),
    sigma_factor=st.floats(1.01, 5.0),
    steps=st.integers(1, 10_000),
    steps_factor=st.integers(2, 10),
)
def test_grid_monotone_in_steps_and_q_and_decreasing_in_sigma(
    q: float, q_factor: float, sigma: float, sigma_factor: float, steps: int, steps_factor: int
) -> None:
    larger_q = min(q * q_factor, 1.0)
    assume(larger_q > q)
    q_pair = np.array([q, larger_q])
    sigma_pair = np.array([sigma, sigma * sigma_factor])
    step_pair = np.array([steps, steps * steps_factor])
    eps = rdp_grid_epsilon(q_pair[:, None, None], sigma_pair[None, :, None], step_pair, 1e-5)
    slack = 1e-10 * eps.max() + 1e-15  # the engine's rounding allowance is ≤ ~1e-11 relative
    assert np.all(eps[1] >= eps[0] - slack)  # more sampling costs more
    assert np.all(eps[:, 1] <= eps[:, 0] + slack)  # more noise costs less
    assert np.all(eps[:, :, 1] >= eps[:, :, 0] - slack)  # more steps cost more


def test_schedule_sums_distinct_phases() -> None:
    schedule = [(0.01, 1.0, 100), (0.02, 0.8, 50), (0.01, 1.0, 20), (0.5, 2.0, 0)]
    expected = 120 * rdp_subsampled_gaussian(0.01, 1.0) + 50 * rdp_subsampled_gaussian(0.02, 0.8)
    np.testing.assert_allclose(rdp_of_schedule(schedule), expected, rtol=1e-15)
    np.testing.assert_array_equal(rdp_of_schedule([]), np.zeros(DEFAULT_ORDERS.size))

    accountant = dp_rdp.RdpAccountant(orders=[2.0, 8.0, 32.0])
    for q, sigma, count in schedule[:3]:  # dp_accounting refuses a count of 0
        accountant.compose(
            dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), count
        )
    np.testing.assert_allclose(
        rdp_of_schedule(schedule, [2.0, 8.0, 32.0]), accountant._rdp, rtol=1e-9
    )


# ---------------------------------------------------------------------------------------------
# Orders, extremes, validation


def test_default_orders_extend_dp_accounting() -> None:
    assert set(DP_ORDERS.tolist()) <= set(DEFAULT_ORDERS.tolist())
    assert DEFAULT_ORDERS.size <= 250
    assert np.all(np.diff(DEFAULT_ORDERS) > 0) and DEFAULT_ORDERS[0] > 1
    assert {1.01, 1.05, 96.0, 2048.0, 4096.0} <= set(DEFAULT_ORDERS.tolist())
    assert not DEFAULT_ORDERS.flags.writeable


@pytest.mark.parametrize(
    ("q", "sigma"),
    [(1e-6, 50.0), (1.0, 0.3), (1e-6, 0.3), (0.999999, 0.3), (0.5, 0.3), (1e-6, 0.05)],
)
def test_extremes_are_finite_and_nondecreasing_in_the_order(q: float, sigma: float) -> None:
    rdp = rdp_subsampled_gaussian(q, sigma, DEFAULT_ORDERS)
    assert np.all(np.isfinite(rdp)) and np.all(rdp > 0)
    # (α−1)ε(α) convex and 0 at α = 1 makes ε(α) nondecreasing (van Erven & Harremoës, Thm. 3).
    assert np.all(np.diff(rdp) >= -1e-12 * rdp[1:])
    eps = rdp_grid_epsilon(q, sigma, np.array([1, 10**6]), 1e-10)
    assert np.all(np.isfinite(eps)) and np.all(eps >= 0)


def test_tiny_rdp_keeps_relative_accuracy() -> None:
    # q² α(α−1)/2 · (e^{1/σ²} − 1) is the leading term of log A_α for small q (MTZ19 Sec. 3.3).
    q, sigma = 1e-6, 50.0
    orders = np.array([1.5, 2.0, 4096.0])
    leading = q**2 * orders * (orders - 1) / 2 * math.expm1(1 / sigma**2)
    np.testing.assert_allclose(log_a_subsampled_gaussian(q, sigma, orders), leading, rtol=1e-3)


def test_no_sampling_and_no_steps_cost_nothing() -> None:
    assert np.all(rdp_subsampled_gaussian(0.0, 1.0) == 0)
    assert float(rdp_grid_epsilon(0.0, 1.0, 1000, 1e-5)) == 0.0
    assert float(rdp_grid_epsilon(0.5, 0.3, 0, 1e-5)) == 0.0


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: rdp_subsampled_gaussian(1.5, 1.0), "sampling_rate"),
        (lambda: rdp_subsampled_gaussian(0.1, 0.0), "noise_multiplier"),
        (lambda: rdp_subsampled_gaussian(0.1, math.nan), "noise_multiplier"),
        (lambda: rdp_subsampled_gaussian(0.1, 1.0, [1.0, 2.0]), "orders"),
        (lambda: epsilon_from_rdp(np.ones(3), [2.0, 3.0], 1e-5), "rdp"),
        (lambda: epsilon_from_rdp(np.ones(2), [2.0, 3.0], 1.5), "delta"),
        (lambda: delta_from_rdp(np.ones(2), [2.0, 3.0], -1.0), "epsilon"),
        (lambda: rdp_grid_epsilon(0.1, 1.0, -1, 1e-5), "steps"),
        (lambda: rdp_of_schedule([(0.1, 1.0, 2.5)]), "schedule[0].count"),  # type: ignore[list-item]
    ],
)
def test_invalid_inputs_name_the_field(call: Any, field: str) -> None:
    with pytest.raises(InputError) as error:
        call()
    assert error.value.field == field
