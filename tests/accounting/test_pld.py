"""The FFT composition engine against closed forms and against dp_accounting's own composition."""

from __future__ import annotations

import math

import numpy as np
import pytest
from dp_accounting import dp_event
from dp_accounting.pld import pld_privacy_accountant

from privaudit.accounting import pld
from privaudit.mechanisms import Gaussian, Laplace, NonPrivate, PoissonSampled
from tests.accounting.oracles import gaussian_delta, gaussian_epsilon

H = 1e-4
TIGHT = 0.005  # DESIGN.md: within 0.5% of exact, never below


def _poisson(q: float, sigma: float) -> PoissonSampled:
    return PoissonSampled(sampling_rate=q, event=Gaussian(noise_multiplier=sigma))


@pytest.mark.parametrize("count", [1, 7, 64, 500])
def test_composed_gaussians_match_the_closed_form_from_above(count: int) -> None:
    sigma = 6.0
    exact = gaussian_epsilon(1e-6, math.sqrt(count) / sigma)
    found = pld.epsilon([(pld.mechanism_pld(Gaussian(noise_multiplier=sigma), H), count)], 1e-6)
    assert exact <= found <= exact * (1 + TIGHT) + 1e-4


def test_every_curve_point_is_above_the_closed_form() -> None:
    sigma, counts = 8.0, [1, 2, 5, 10, 50, 100, 400]
    curve = pld.epsilon_curve(pld.mechanism_pld(Gaussian(noise_multiplier=sigma), H), counts, 1e-5)
    exact = np.array([gaussian_epsilon(1e-5, math.sqrt(c) / sigma) for c in counts])
    assert np.all(curve >= exact)
    assert np.all(curve <= exact * (1 + TIGHT) + 1e-4)


def test_curve_equals_separate_compositions() -> None:
    mechanism = pld.mechanism_pld(_poisson(0.02, 1.2), H)
    counts = [10, 100, 250, 1000]
    curve = pld.epsilon_curve(mechanism, counts, 1e-5)
    separate = [pld.epsilon([(mechanism, c)], 1e-5) for c in counts]
    # The curve composes every count on the largest count's window; a separate composition
    # sizes its own. Their round-off allowances (∝ √N) differ by ~1e-11 in δ, ~1e-7 in ε.
    np.testing.assert_allclose(curve, separate, rtol=1e-6)


def test_curve_is_monotone_in_steps() -> None:
    mechanism = pld.mechanism_pld(_poisson(0.01, 1.0), H)
    curve = pld.epsilon_curve(mechanism, list(range(50, 2001, 50)), 1e-5)
    assert np.all(np.diff(curve) >= 0)


def test_heterogeneous_schedule_matches_dp_accountings_composition() -> None:
    schedule = [(0.005, 1.0, 300), (0.02, 1.3, 200), (0.05, 2.0, 100)]
    ours = pld.epsilon([(pld.mechanism_pld(_poisson(q, s), H), c) for q, s, c in schedule], 1e-5)
    reference = pld_privacy_accountant.PLDAccountant(value_discretization_interval=H)
    for q, s, c in schedule:
        reference.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(s)), c)
    assert ours == pytest.approx(reference.get_epsilon(1e-5), rel=1e-4)


def test_heterogeneous_gaussians_compose_like_one_gaussian() -> None:
    sigmas = [(3.0, 4), (5.0, 9), (9.0, 30)]
    mu = math.sqrt(sum(c / s**2 for s, c in sigmas))
    found = pld.epsilon(
        [(pld.mechanism_pld(Gaussian(noise_multiplier=s), H), c) for s, c in sigmas], 1e-5
    )
    exact = gaussian_epsilon(1e-5, mu)
    assert exact <= found <= exact * (1 + TIGHT) + 1e-4


@pytest.mark.parametrize("epsilon", [0.5, 1.0, 2.0])
def test_delta_is_never_below_the_closed_form(epsilon: float) -> None:
    count, sigma = 20, 5.0
    found = pld.delta([(pld.mechanism_pld(Gaussian(noise_multiplier=sigma), H), count)], epsilon)
    assert found >= gaussian_delta(epsilon, math.sqrt(count) / sigma)


def test_round_off_and_tail_allowance_is_added_to_delta() -> None:
    composed = pld.compose_direction([(pld.mechanism_pld(_poisson(0.1, 1.0), H).remove, 50)])
    assert composed.slack > 0
    assert composed.delta(1e9) == pytest.approx(composed.infinity + composed.slack)


def test_laplace_uses_the_library_pmf_and_stays_above_pure_dp_curve() -> None:
    # Laplace(b): ε(δ) → 1/b as δ → 0; two releases compose to at most 2/b (basic composition).
    found = pld.epsilon([(pld.mechanism_pld(Laplace(scale=4.0), H), 2)], 1e-9)
    assert 0.25 < found <= 0.5 + 1e-3


def test_non_private_release_is_unbounded() -> None:
    assert math.isinf(pld.epsilon([(pld.mechanism_pld(NonPrivate(), H), 1)], 1e-5))
    assert pld.delta([(pld.mechanism_pld(NonPrivate(), H), 1)], 10.0) == 1.0


def test_no_releases_cost_nothing() -> None:
    assert pld.epsilon([], 1e-5) == 0.0
    assert pld.delta([], 0.0) == 0.0


def test_mixed_discretisations_are_refused() -> None:
    a = pld.mechanism_pld(Gaussian(noise_multiplier=2.0), 1e-4).remove
    b = pld.mechanism_pld(Gaussian(noise_multiplier=2.0), 2e-4).remove
    with pytest.raises(ValueError, match="discretisation"):
        pld.compose_direction([(a, 1), (b, 1)])


def test_fft_lengths_are_scipys_real_fast_lengths() -> None:
    # The engine uses numpy.fft (cheaper to import); its window must stay the 5-smooth length
    # scipy.fft.next_fast_len(real=True) chose, so composed PMFs are unchanged.
    from scipy import fft

    targets = [*range(1, 3000), 99_991, 123_457, 1_000_003, 7_777_777]
    assert [pld.next_fast_len(t) for t in targets] == [
        fft.next_fast_len(t, real=True) for t in targets
    ]


def test_log_mgf_is_the_log_sum_exp_at_every_chernoff_parameter() -> None:
    from scipy.special import logsumexp

    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(5000))
    losses = (-2500 + np.arange(probs.size)) * 1e-3
    found = pld._log_mgf(np.log(probs), losses)
    ts = np.concatenate([pld._CHERNOFF_T, -pld._CHERNOFF_T])
    expected = [logsumexp(np.log(probs) + t * losses) for t in ts]
    np.testing.assert_allclose(found, expected, rtol=1e-12)


LONG_RUN = 10**6
"""Steps at which the transforms' error amplified by the power (∝ steps) exceeded the old
allowance, which counted the transforms and the multiplications only (2.5× at 10⁶ steps)."""


@pytest.mark.skipif(not pld._HAS_EXTENDED, reason="long double is double on this platform")
def test_roundoff_allowance_covers_the_double_precision_error_of_a_million_steps() -> None:
    # Extended precision (ulp 1.1e-19) is ~1000× more accurate, so the difference measures the
    # double composition's own error.
    direction = pld.mechanism_pld(_poisson(0.001, 0.6), H).remove
    double = pld.compose_direction([(direction, LONG_RUN)])
    extended = pld.compose_direction([(direction, LONG_RUN)], precise=True)
    assert (double.lower, double.probs.size) == (extended.lower, extended.probs.size)
    assert np.abs(double.probs - extended.probs).sum() <= double.roundoff


@pytest.mark.skipif(not pld._HAS_EXTENDED, reason="long double is double on this platform")
def test_curve_roundoff_allowance_covers_the_double_precision_error_of_a_million_steps() -> None:
    direction = pld.mechanism_pld(_poisson(0.001, 0.6), H).remove
    double = pld.compose_direction_curve(direction, [LONG_RUN // 2, LONG_RUN])[1]
    extended = pld.compose_direction_curve(direction, [LONG_RUN // 2, LONG_RUN], precise=True)[1]
    assert (double.lower, double.probs.size) == (extended.lower, extended.probs.size)
    assert np.abs(double.probs - extended.probs).sum() <= double.roundoff
