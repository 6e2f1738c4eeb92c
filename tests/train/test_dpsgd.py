"""DP-SGD: clipping, noise scale, Poisson sampling, normalisation, budget stops, seeding."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from sklearn.datasets import load_digits

from privaudit.accounting.calibrate import epsilon_of
from privaudit.accounting.streaming import StreamingAccountant
from privaudit.errors import InputError
from privaudit.mechanisms import DpSgd, Gaussian, NonPrivate, PoissonSampled, Sampling
from privaudit.train.dpsgd import (
    MNIST_DEFAULTS,
    DpSgdConfig,
    EpochStats,
    add_gaussian_noise,
    fixed_batch_sample,
    make_generator,
    mnist_config,
    poisson_sample,
    private_gradient,
    train_dpsgd,
)
from privaudit.train.models import Mlp, ModelSpec, softmax_regression

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
ALPHA = 1e-6
"""Two-sided level of the statistical tests: a correct implementation fails one about once in a
million runs."""


def _digits() -> tuple[Any, Any, Any, Any]:
    """sklearn's digits scaled by 1/16 (a constant), first 1437 to train, last 360 to test."""
    digits = load_digits()
    x = (digits.data / 16).astype(np.float32)
    y = digits.target.astype(np.int64)
    return x[:1437], y[:1437], x[1437:], y[1437:]


def _config(**changes: Any) -> DpSgdConfig:
    settings: dict[str, Any] = {
        "noise_multiplier": 1.0,
        "clip_norm": 1.0,
        "batch_size": 64,
        "epochs": 2,
        "learning_rate": 1.0,
        "momentum": 0.9,
        "seed": 7,
    }
    settings.update(changes)
    return DpSgdConfig(**settings)


# --- clipping ---------------------------------------------------------------------------------


@given(
    seed=st.integers(0, 2**32 - 1),
    clip=st.floats(1e-3, 10.0),
    scale=st.floats(1e-2, 1e2),
    hidden=st.sampled_from([(), (5,), (4, 3)]),
)
def test_clipping_bounds_every_example_contribution(
    seed: int, clip: float, scale: float, hidden: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(seed)
    model = Mlp(6, 3, ModelSpec(hidden=hidden, activation="tanh"))
    params = model.init(rng, np.float64) + rng.normal(0, 1, model.n_params)
    x = rng.normal(0, scale, size=(8, 6))
    y = rng.integers(0, 3, size=8)
    total, norms, _ = model.clipped_gradient_sum(params, x, y, clip)
    singles = [
        model.clipped_gradient_sum(params, x[i : i + 1], y[i : i + 1], clip)[0] for i in range(8)
    ]
    for single, norm in zip(singles, norms, strict=True):
        assert np.linalg.norm(single) <= clip * (1 + 1e-9)
        if norm <= clip:  # unclipped gradients pass unchanged
            assert np.linalg.norm(single) == pytest.approx(norm, rel=1e-9)
    np.testing.assert_allclose(total, np.sum(singles, axis=0), rtol=1e-9, atol=1e-12)


# --- noise ------------------------------------------------------------------------------------


def _chi_square_interval(dof: int) -> tuple[float, float]:
    return stats.chi2.ppf(ALPHA / 2, dof), stats.chi2.ppf(1 - ALPHA / 2, dof)


@pytest.mark.parametrize(("sigma", "clip"), [(1.1, 1.0), (4.0, 0.1), (0.5, 3.0)])
def test_noise_on_the_summed_gradient_has_standard_deviation_sigma_times_clip(
    sigma: float, clip: float
) -> None:
    # An empty batch has an exactly zero clipped sum: only the noise remains.
    model = softmax_regression(999, 20)  # 20,000 coordinates
    expected_batch = 256.0
    gradient = private_gradient(
        model,
        np.zeros(model.n_params),
        np.zeros((0, 999)),
        np.zeros(0, dtype=np.int64),
        clip_norm=clip,
        noise_multiplier=sigma,
        expected_batch_size=expected_batch,
        rng=make_generator(None),
    ).gradient
    noise = gradient * expected_batch  # undo the normalisation
    statistic = float(np.sum((noise / (sigma * clip)) ** 2))
    low, high = _chi_square_interval(model.n_params)
    assert low < statistic < high
    assert abs(noise.mean()) < stats.norm.ppf(1 - ALPHA / 2) * sigma * clip / math.sqrt(noise.size)


def test_noise_is_added_to_the_clipped_sum_of_a_real_batch() -> None:
    x, y, _, _ = _digits()
    model = softmax_regression(64, 10)
    params = np.zeros(model.n_params, dtype=np.float32)
    clean, _, _ = model.clipped_gradient_sum(params, x[:100], y[:100], 0.5)
    noisy = private_gradient(
        model, params, x[:100], y[:100], clip_norm=0.5, noise_multiplier=2.0,
        expected_batch_size=1.0, rng=make_generator(3),
    ).gradient  # fmt: skip
    difference = (noisy - clean).astype(np.float64) / (2.0 * 0.5)
    low, high = _chi_square_interval(difference.size)
    assert low < float(np.sum(difference**2)) < high


def test_zero_noise_multiplier_adds_nothing() -> None:
    total = np.arange(5.0)
    np.testing.assert_array_equal(add_gaussian_noise(total, 0.0, 1.0, make_generator(1)), total)


# --- sampling ---------------------------------------------------------------------------------


def test_poisson_batch_sizes_have_binomial_mean_and_variance() -> None:
    n, q, draws = 2000, 0.05, 4000
    rng = make_generator(None)
    sizes = np.array([len(poisson_sample(n, q, rng)) for _ in range(draws)])
    mean, variance = n * q, n * q * (1 - q)
    z = stats.norm.ppf(1 - ALPHA / 2)
    assert abs(sizes.mean() - mean) < z * math.sqrt(variance / draws)
    # (draws − 1)·s²/σ² is χ²(draws − 1) for a normal sample; Binomial(2000, 0.05) is near normal.
    low, high = _chi_square_interval(draws - 1)
    assert low < (draws - 1) * sizes.var(ddof=1) / variance < high


def test_poisson_sampling_includes_every_example_with_probability_q() -> None:
    n, q, draws = 50, 0.2, 4000
    rng = make_generator(None)
    counts = np.zeros(n)
    for _ in range(draws):
        counts[poisson_sample(n, q, rng)] += 1
    # Each count is Binomial(draws, q), independent across examples: Σ standardised² ~ χ²(n).
    statistic = float(np.sum((counts - draws * q) ** 2 / (draws * q * (1 - q))))
    low, high = _chi_square_interval(n)
    assert low < statistic < high


def test_empty_batches_happen_and_are_trained_on() -> None:
    x, y, xt, yt = _digits()
    # q = 1/1437: a batch is empty with probability (1 − q)^1437 ≈ e^-1.
    result = train_dpsgd(x, y, xt, yt, _config(batch_size=1, epochs=1, seed=11))
    assert result.steps == 1437
    empty = 0
    rng = make_generator(11)
    for _ in range(result.steps):
        empty += len(poisson_sample(1437, 1 / 1437, rng)) == 0
        rng.normal(size=softmax_regression(64, 10).n_params)  # the step's noise
    assert 400 < empty < 650
    assert np.all(np.isfinite(result.params))


def test_fixed_batch_sampling_is_recorded_as_such() -> None:
    rng = make_generator(2)
    batch = fixed_batch_sample(100, 10, rng)
    assert len(np.unique(batch)) == 10 and batch.max() < 100
    x, y, xt, yt = _digits()
    result = train_dpsgd(x, y, xt, yt, _config(sampling="fixed_batch", batch_size=100, epochs=1))
    assert result.epochs[0].mean_batch_size == 100
    assert result.mechanism == DpSgd(
        noise_multiplier=1.0,
        sampling_rate=100 / 1437,
        steps=14,
        sampling=Sampling.FIXED_BATCH,
        dataset_size=1437,
    )
    # Fixed-size sampling is a replace-one release: the streaming accountant refuses it up front.
    with pytest.raises(InputError, match="add-or-remove-one"):
        train_dpsgd(
            x, y, xt, yt, _config(sampling="fixed_batch", batch_size=100),
            accountant=StreamingAccountant(10.0, 1e-5),
        )  # fmt: skip


# --- normalisation ----------------------------------------------------------------------------


def test_the_sum_is_divided_by_the_expected_not_the_realised_batch_size() -> None:
    x, y, xt, yt = _digits()
    # round(1437 / 1000) = 1 step per epoch: one SGD step of size 1 from zero parameters.
    config = _config(
        noise_multiplier=0.0, batch_size=1000, epochs=1, momentum=0.0, learning_rate=1.0, seed=5
    )
    result = train_dpsgd(x, y, xt, yt, config)
    assert result.steps == 1
    # Replay the trainer's generator: softmax regression starts at zero (no draws), then the
    # first Poisson sample.
    batch = poisson_sample(1437, 1000 / 1437, make_generator(5))
    assert len(batch) != 1000 and result.epochs[0].mean_batch_size == len(batch)
    model = softmax_regression(64, 10)
    total, _, _ = model.clipped_gradient_sum(
        np.zeros(model.n_params, dtype=np.float32), x[batch], y[batch], 1.0
    )
    np.testing.assert_allclose(result.params, -total / 1000, rtol=1e-5, atol=1e-8)
    assert not np.allclose(result.params, -total / len(batch), rtol=1e-4, atol=0)


# --- training, budget, seeding ----------------------------------------------------------------


def test_training_on_digits_reaches_a_sensible_accuracy() -> None:
    x, y, xt, yt = _digits()
    seen: list[EpochStats] = []
    accountant = StreamingAccountant(50.0, 1e-5)
    result = train_dpsgd(
        x, y, xt, yt, _config(epochs=10), accountant=accountant, on_epoch=seen.append
    )
    assert result.test_accuracy >= 0.75  # non-private softmax regression: ~0.89
    assert result.stopped is None and result.steps == result.planned_steps == 10 * 22
    assert [s.epoch for s in seen] == list(range(1, 11)) and list(result.epochs) == seen
    epsilons = [s.epsilon for s in seen]
    assert all(a is not None and b is not None and a < b for a, b in itertools.pairwise(epsilons))
    assert result.epsilon == accountant.epsilon == epsilons[-1]
    assert result.mechanism == DpSgd(noise_multiplier=1.0, sampling_rate=64 / 1437, steps=220)
    step = PoissonSampled(sampling_rate=64 / 1437, event=Gaussian(noise_multiplier=1.0))
    assert accountant.spent == {step: 220}


def test_the_run_stops_before_the_step_that_would_exceed_the_budget() -> None:
    x, y, xt, yt = _digits()
    q, sigma, cap = 64 / 1437, 1.0, 2.0
    accountant = StreamingAccountant(cap, 1e-5)
    result = train_dpsgd(x, y, xt, yt, _config(epochs=20), accountant=accountant)
    k = result.steps
    assert 0 < k < result.planned_steps
    assert result.stopped == f"stopped before step {k + 1}: budget"
    assert result.mechanism == DpSgd(noise_multiplier=sigma, sampling_rate=q, steps=k)
    assert epsilon_of(sigma, q, k, 1e-5, 1e-4) <= cap < epsilon_of(sigma, q, k + 1, 1e-5, 1e-4)
    assert result.epsilon is not None and result.epsilon <= cap
    last = result.epochs[-1]
    assert last.steps == k and (last.complete is False or k % 22 == 0)


def test_a_non_private_run_is_refused_by_the_accountant_before_the_first_step() -> None:
    x, y, xt, yt = _digits()
    result = train_dpsgd(
        x, y, xt, yt, _config(noise_multiplier=0.0), accountant=StreamingAccountant(10.0, 1e-5)
    )
    assert result.steps == 0 and result.mechanism is None and result.epochs == ()
    assert result.stopped == "stopped before step 1: budget"
    free = train_dpsgd(x, y, xt, yt, _config(noise_multiplier=0.0))
    assert free.mechanism == NonPrivate() and free.epochs[-1].epsilon is None


def test_crypto_seeding_by_default_and_fixed_seeds_reproduce() -> None:
    x, y, xt, yt = _digits()
    first = train_dpsgd(x, y, xt, yt, _config(seed=None, epochs=1))
    second = train_dpsgd(x, y, xt, yt, _config(seed=None, epochs=1))
    assert first.seed == second.seed == "crypto"
    assert not np.array_equal(first.params, second.params)
    again = [train_dpsgd(x, y, xt, yt, _config(seed=42, epochs=1)) for _ in range(2)]
    assert again[0].seed == 42
    np.testing.assert_array_equal(again[0].params, again[1].params)


def test_nothing_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    x, y, xt, yt = _digits()
    train_dpsgd(x, y, xt, yt, _config(epochs=1, optimizer="adam", learning_rate=0.01))
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"noise_multiplier": -1.0}, "noise_multiplier"),
        ({"noise_multiplier": math.nan}, "noise_multiplier"),
        ({"clip_norm": 0.0}, "clip_norm"),
        ({"batch_size": 0}, "batch_size"),
        ({"epochs": 1.5}, "epochs"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"momentum": 1.0}, "momentum"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"sampling": "shuffle"}, "sampling"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_configurations_are_refused(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError, match=f"^<argument>: {field}: "):
        _config(**changes)


def test_batch_larger_than_the_data_is_refused() -> None:
    x, y, xt, yt = _digits()
    with pytest.raises(InputError, match="batch_size: must be <= the number of training"):
        train_dpsgd(x, y, xt, yt, _config(batch_size=5000))


# --- MNIST ------------------------------------------------------------------------------------


def test_mnist_defaults_stay_within_their_target_epsilon() -> None:
    for target, config in MNIST_DEFAULTS.items():
        q = config.batch_size / 60000
        steps = config.planned_steps(60000)
        assert epsilon_of(config.noise_multiplier, q, steps, 1e-5, 1e-4) <= target
        assert config.seed is None and config.sampling is Sampling.POISSON
    assert mnist_config(3.0) == MNIST_DEFAULTS[3.0]
    assert mnist_config(3, seed=4).seed == 4


def test_mnist_config_calibrates_between_the_tabulated_targets() -> None:
    config = mnist_config(2.5)
    recipe = MNIST_DEFAULTS[2.0]
    assert config.epochs == recipe.epochs and config.batch_size == recipe.batch_size
    assert MNIST_DEFAULTS[3.0].noise_multiplier < config.noise_multiplier < recipe.noise_multiplier
    steps = config.planned_steps(60000)
    assert epsilon_of(config.noise_multiplier, config.batch_size / 60000, steps, 1e-5) <= 2.5


@pytest.mark.skipif(not (DATA / "mnist").is_dir(), reason=f"no MNIST under {DATA}")
def test_real_mnist_smoke() -> None:
    from privaudit.data.loaders import load_mnist
    from privaudit.train.features import FeatureSpec

    train, test = load_mnist(DATA)
    spec = FeatureSpec()
    x = spec.transform(train.x[:5000])
    xt = spec.transform(test.x[:1000])
    config = DpSgdConfig(
        noise_multiplier=1.0, clip_norm=0.1, batch_size=500, epochs=1,
        learning_rate=4.0, momentum=0.9,
    )  # fmt: skip
    result = train_dpsgd(x, train.y[:5000], xt, test.y[:1000], config)
    assert result.steps == 10
    assert result.test_accuracy > 0.6  # chance: 0.1
