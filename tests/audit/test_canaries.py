"""Dirac canaries: placement, isolation from real data, scores and the direct checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from privaudit.audit.bounds import audit_from_scores
from privaudit.audit.canaries import (
    DESIGN_SIMULATIONS,
    GUESS_FRACTIONS,
    MIN_UNTOUCHED,
    CanaryObserver,
    DiracCanaries,
    GuessDesign,
    contribution_check,
    design_guess_count,
    draw_canaries,
    noise_std_check,
    sampling_rate_check,
)
from privaudit.errors import InputError
from privaudit.train.models import Mlp, ModelSpec

ALPHA = 1e-6
"""Level of the statistical assertions: a correct implementation fails one about once in a
million runs."""


def _canaries(count: int = 50, untouched: int = MIN_UNTOUCHED, d: int = 5) -> DiracCanaries:
    return draw_canaries(
        count, untouched, base_features=d, gradient_norm=10.0, rng=np.random.default_rng(0)
    )


def test_inclusion_is_a_fair_coin_per_canary_and_reproducible() -> None:
    first = draw_canaries(
        10_000, 100, base_features=3, gradient_norm=2.0, rng=np.random.default_rng(5)
    )
    again = draw_canaries(
        10_000, 100, base_features=3, gradient_norm=2.0, rng=np.random.default_rng(5)
    )
    assert np.array_equal(first.included, again.included)
    included = int(first.included.sum())
    assert stats.binomtest(included, 10_000, 0.5).pvalue > ALPHA
    with pytest.raises(ValueError, match="read-only"):
        first.included[0] = not first.included[0]


@pytest.mark.parametrize("hidden", [(), (7,), (6, 4)])
def test_real_data_never_moves_the_canary_or_untouched_coordinates(hidden: tuple[int, ...]) -> None:
    canaries = _canaries()
    model = Mlp(5 + canaries.extra_features, 3, ModelSpec(hidden=hidden))
    rng = np.random.default_rng(1)
    params = model.init(rng, np.float64) + rng.normal(0, 0.1, model.n_params)
    x = canaries.features(rng.normal(size=(40, 5)))
    y = rng.integers(0, 3, 40)
    total, norms, _ = model.clipped_gradient_sum(params, x, y, 0.5)
    canary_at, untouched_at = canaries.coordinates(model)
    assert np.all(total[canary_at] == 0) and np.all(total[untouched_at] == 0)
    assert np.count_nonzero(total) > 0 and np.all(norms > 0)
    # Distinct coordinates, all in the first layer's weight matrix, in the canaries' rows.
    every = np.concatenate([canary_at, untouched_at])
    assert len(set(every.tolist())) == canaries.extra_features
    fan_in, fan_out = model.layers[0]
    assert np.all(every < fan_in * fan_out)
    assert np.all(every // fan_out >= 5) and np.all(every % fan_out == canaries.unit)


def test_coordinates_are_the_canary_rows_of_the_first_weight_matrix() -> None:
    canaries = _canaries()
    model = Mlp(5 + canaries.extra_features, 2)
    canary_at, untouched_at = canaries.coordinates(model)
    ((weights, _),) = model.unpack(np.arange(model.n_params, dtype=np.float64))
    # Canary j's coordinate is the weight of input feature d + j into output unit `unit`.
    assert weights[5 + 3, canaries.unit] == canary_at[3]
    assert weights[5 + canaries.count, canaries.unit] == untouched_at[0]


def test_features_append_zero_columns_only() -> None:
    canaries = _canaries()
    x = np.arange(10, dtype=np.float32).reshape(2, 5)
    padded = canaries.features(x)
    assert padded.shape == (2, 5 + canaries.extra_features) and padded.dtype == np.float32
    assert np.array_equal(padded[:, :5], x) and not padded[:, 5:].any()
    with pytest.raises(InputError, match=r"expected shape \(n, 5\)"):
        canaries.features(np.zeros((2, 4), dtype=np.float32))


def test_coordinates_refuse_a_model_without_the_canary_features() -> None:
    with pytest.raises(InputError, match="input features"):
        _canaries().coordinates(Mlp(5, 2))


@pytest.mark.parametrize(
    ("count", "untouched", "message"),
    [(1, 100, "canaries"), (10, MIN_UNTOUCHED - 1, "untouched"), (True, 100, "canaries")],
)
def test_draw_refuses_bad_sizes(count: int, untouched: int, message: str) -> None:
    with pytest.raises(InputError, match=message):
        draw_canaries(
            count, untouched, base_features=2, gradient_norm=1.0, rng=np.random.default_rng(0)
        )


def test_draw_refuses_a_bad_norm() -> None:
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(InputError, match="gradient_norm"):
            draw_canaries(10, 100, base_features=2, gradient_norm=bad, rng=np.random.default_rng(0))


def test_observer_accumulates_sums_likelihood_ratios_and_noise_statistics() -> None:
    canaries = _canaries(count=4)
    observer = CanaryObserver(canaries, clip_norm=2.0, noise_multiplier=1.5, sampling_rate=0.2)
    rng = np.random.default_rng(3)
    steps = [rng.normal(size=4) for _ in range(3)]
    noise = [rng.normal(size=MIN_UNTOUCHED) for _ in range(3)]
    for values, untouched in zip(steps, noise, strict=True):
        observer.observe(values, untouched)
    assert observer.steps == 3
    assert np.allclose(observer.scores("sum"), np.sum(steps, axis=0))
    # log(1 − q + q·exp((x/C − 1/2)/σ²)), summed over steps.
    expected = np.sum([np.log(0.8 + 0.2 * np.exp((v / 2.0 - 0.5) / 1.5**2)) for v in steps], axis=0)
    assert np.allclose(observer.scores("likelihood_ratio"), expected)
    assert observer.untouched_observations == 3 * MIN_UNTOUCHED
    assert math.isclose(observer.untouched_sum_squares, sum(float(v @ v) for v in noise))
    with pytest.raises(InputError, match="score"):
        observer.scores("max")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="expected 4 canary"):
        observer.observe(np.zeros(3), np.zeros(MIN_UNTOUCHED))


def test_likelihood_ratio_stays_finite_for_a_broken_trainer() -> None:
    canaries = _canaries(count=3)
    observer = CanaryObserver(canaries, clip_norm=0.1, noise_multiplier=0.5, sampling_rate=0.01)
    observer.observe(np.array([1e6, 0.0, -1e6]), np.zeros(MIN_UNTOUCHED))
    scores = observer.scores("likelihood_ratio")
    assert np.all(np.isfinite(scores)) and scores[0] > scores[1] > scores[2]


def test_full_batch_likelihood_ratio_orders_canaries_as_the_sum_does() -> None:
    canaries = _canaries(count=200)
    observer = CanaryObserver(canaries, clip_norm=1.0, noise_multiplier=2.0, sampling_rate=1.0)
    rng = np.random.default_rng(4)
    for _ in range(5):
        observer.observe(rng.normal(size=200), np.zeros(MIN_UNTOUCHED))
    assert np.array_equal(
        np.argsort(observer.scores("sum")), np.argsort(observer.scores("likelihood_ratio"))
    )


def test_noise_check_covers_the_true_std_and_flags_a_tenth() -> None:
    rng = np.random.default_rng(6)
    draws = rng.normal(0, 0.7, size=20_000)
    check = noise_std_check(float(draws @ draws), len(draws), 0.7, ALPHA)
    assert check.ok and check.low < 0.7 < check.high
    assert math.isclose(check.observed, 0.7, rel_tol=0.02)
    small = draws / 10
    broken = noise_std_check(float(small @ small), len(small), 0.7, 0.05)
    assert not broken.ok and broken.high < 0.1


def test_noise_interval_has_its_coverage() -> None:
    # 400 intervals at level 0.2: the number that miss is Binomial(400, 0.2).
    rng = np.random.default_rng(7)
    misses = 0
    for _ in range(400):
        draws = rng.normal(0, 3.0, size=50)
        misses += not noise_std_check(float(draws @ draws), 50, 3.0, 0.2).ok
    assert stats.binomtest(misses, 400, 0.2).pvalue > ALPHA


def test_sampling_check_accepts_q_and_flags_4q() -> None:
    rng = np.random.default_rng(8)
    trials = 500 * 40
    fine = sampling_rate_check(int(rng.binomial(trials, 0.05)), trials, 0.05, 1e-4)
    assert fine.ok and fine.p_value > 1e-4 and math.isclose(fine.observed, 0.05, rel_tol=0.1)
    broken = sampling_rate_check(int(rng.binomial(trials, 0.2)), trials, 0.05, 1e-4)
    assert not broken.ok and broken.p_value < 1e-100
    empty = sampling_rate_check(0, 0, 0.05, 1e-4)
    assert empty.ok and empty.trials == 0


def test_contribution_check_accepts_c_and_flags_10c() -> None:
    # 500 included canaries over 40 steps, sampled 1,000 times, noise std 2 per observation.
    rng = np.random.default_rng(9)
    noise = float(rng.normal(0, 2.0 * math.sqrt(500 * 40)))
    options = {"noise_std": 2.0, "observations": 500 * 40, "level": 1e-4}
    fine = contribution_check(1000 * 0.5 + noise, 1000, clip_norm=0.5, **options)
    assert fine.ok and fine.low < 0.5 < fine.high
    broken = contribution_check(1000 * 5.0 + noise, 1000, clip_norm=0.5, **options)
    assert not broken.ok and broken.low > 3 and broken.p_value < 1e-40
    assert contribution_check(3.0, 0, clip_norm=0.5, **options).ok


def test_contribution_interval_has_its_coverage() -> None:
    rng = np.random.default_rng(10)
    misses = 0
    for _ in range(400):
        total = 50 * 1.0 + float(rng.normal(0, 3.0 * math.sqrt(200)))
        check = contribution_check(
            total, 50, clip_norm=1.0, noise_std=3.0, observations=200, level=0.2
        )
        misses += not check.ok
        assert check.ok is (check.low <= 1.0 <= check.high)
    assert stats.binomtest(misses, 400, 0.2).pvalue > ALPHA


def test_checks_refuse_bad_arguments() -> None:
    with pytest.raises(InputError, match="level"):
        noise_std_check(1.0, 10, 1.0, 0.0)
    with pytest.raises(InputError, match="observations"):
        noise_std_check(1.0, 0, 1.0, 0.05)
    with pytest.raises(InputError, match="sampled"):
        sampling_rate_check(11, 10, 0.5, 0.05)


def _design(**changes: object) -> GuessDesign:
    settings: dict[str, object] = {
        "canaries": 1000,
        "steps": 100,
        "sampling_rate": 0.1,
        "noise_multiplier": 2.249,  # ε = 2 at δ = 1e-5
        "score": "sum",
        "method": "one_run",
        "delta": 1e-5,
        "beta": 0.05,
        "rng": np.random.default_rng(11),
    }
    settings.update(changes)
    return design_guess_count(**settings)  # type: ignore[arg-type]


def test_design_picks_a_guess_count_with_power() -> None:
    design = _design()
    choices = {round(1000 * f) for f in GUESS_FRACTIONS}
    assert design.guesses in choices and design.simulations == DESIGN_SIMULATIONS
    # A correct trainer at ε = 2 with m = 1000: about a quarter of ε is certifiable.
    assert 0.3 < design.expected_lower_bound < 1.0
    assert _design() == design  # same generator state, same design
    fdp = _design(method="one_run_fdp", score="likelihood_ratio", simulations=8)
    assert fdp.expected_lower_bound > design.expected_lower_bound


def test_design_predicts_the_median_audit() -> None:
    # The idealised audit of a correct trainer, run for real at the designed k, lands near the
    # design's promise.
    design = _design()
    rng = np.random.default_rng(12)
    bounds = []
    for _ in range(15):
        included = rng.random(1000) < 0.5
        scores = rng.binomial(100, 0.1, 1000) * included + rng.normal(0, 2.249 * 10, 1000)
        bounds.append(
            audit_from_scores(scores, included, delta=1e-5, guess_counts=[design.guesses])
        )
    median = float(np.median([b.epsilon_lower_bound for b in bounds]))
    assert abs(median - design.expected_lower_bound) < 0.25


def test_design_without_signal_promises_nothing() -> None:
    assert _design(noise_multiplier=1e3).expected_lower_bound == 0.0


def test_design_refuses_other_methods() -> None:
    with pytest.raises(InputError, match="method"):
        _design(method="clopper_pearson")
    with pytest.raises(InputError, match="simulations"):
        _design(simulations=0)
